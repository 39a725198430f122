"""Limits as dated data, O2 correction, validity rules, hourly/daily evaluation, compliance (hand-computed)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
import yaml

from cleanheat.assets.heat_sources import mw_per_t_h
from cleanheat.config import REPO_ROOT
from cleanheat.emissions.compliance import HourRecord, SeasonDates, month_bounds, summarise
from cleanheat.emissions.errors import HJ212Error, LimitTableError
from cleanheat.emissions.hj212.codec import CHINA_TZ, parse_frame
from cleanheat.emissions.limits import (
    SourceFacts,
    SourceProfile,
    all_profiles,
    facts_at,
    limits_path,
    profile_for,
    read_limit_table,
)
from cleanheat.emissions.processing import (
    Rules,
    Sample,
    evaluate_day,
    evaluate_hour,
    exceedance_runs,
    hourly_data_missing,
    o2_corrected,
    read_rules,
    readings_from_packet,
)
from tests.emissions.test_hj212_codec import HOURLY, REALTIME

DATA = REPO_ROOT / "data"

T0 = datetime(2020, 12, 1, 0, tzinfo=UTC)


def test_limit_table_reads_and_never_overlaps():
    table = read_limit_table(limits_path(DATA))
    assert len(table.sets) >= 10
    for s in table.sets:
        assert s.source and s.limits
        for lim in s.limits.values():
            assert lim.confidence in "CSKD"
    dates = table.boundaries() + [date(2019, 1, 1), date(2026, 1, 1)]
    for profile in all_profiles():
        for d in dates:
            table.select(profile, d)  # raises on overlaps


@pytest.mark.parametrize(
    ("profile", "on", "set_id", "pm", "so2", "nox", "o2"),
    [
        (SourceProfile("boiler", "coal", "ordinary", "existing", 58 / 0.7), date(2020, 1, 1),
         "gb13271-2014-t1-coal-gt10", 80, 400, 400, 9),
        (SourceProfile("boiler", "coal", "ordinary", "new", 20), date(2020, 1, 1), "gb13271-2014-t2-coal", 50, 300,
         300, 9),
        (SourceProfile("boiler", "biomass", "ordinary", "existing", 20), date(2020, 1, 1),
         "gb13271-2014-t1-coal-gt10", 80, 400, 400, 9),
        (SourceProfile("boiler", "gas", "ordinary", "new", 20), date(2020, 1, 1), "gb13271-2014-t2-gas", 20, 50,
         200, 3.5),
        (SourceProfile("power", "coal", "ultra_low", "existing", 410), date(2020, 1, 1), "ultra-low-coal-power",
         10, 35, 50, 6),
        (SourceProfile("boiler", "coal", "ultra_low", "existing", 116 / 0.7), date(2020, 1, 1),
         "ultra-low-coal-boiler", 10, 35, 50, 9),
    ],
)
def test_limit_selection(profile, on, set_id, pm, so2, nox, o2):
    s = read_limit_table(limits_path(DATA)).select(profile, on)
    assert s.id == set_id
    assert (s.limit("a34013"), s.limit("a21026"), s.limit("a21002"), s.ref_o2_pct) == (pm, so2, nox, o2)


def test_limits_are_dated():
    table = read_limit_table(limits_path(DATA))
    small = SourceProfile("boiler", "coal", "ordinary", "existing", 6)
    assert table.select(small, date(2016, 6, 30)) is None  # GB 13271-2014 reaches <=10 t/h on 2016-07-01
    assert table.select(small, date(2016, 7, 1)).id == "gb13271-2014-t1-coal-le10"
    big = SourceProfile("boiler", "coal", "ordinary", "existing", 20)
    assert table.select(big, date(2015, 9, 30)) is None
    assert table.select(big, date(2015, 10, 1)) is not None


def test_malformed_limit_table_names_row_and_field(tmp_path):
    raw = yaml.safe_load(Path(read_limit_table(limits_path(DATA)).path).read_text(encoding="utf-8"))
    raw["limit_sets"][2]["limits_mg_m3"]["a34013"]["value"] = -1
    raw["limit_sets"][4]["match"]["scope"] = "furnace"
    del raw["limit_sets"][5]["source"]
    p = tmp_path / "limits.yaml"
    p.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    with pytest.raises(LimitTableError) as ei:
        read_limit_table(p)
    where = {(i.row, i.field) for i in ei.value.issues}
    assert {(3, "limits_mg_m3.a34013"), (5, "match.scope"), (6, "source")} <= where


def test_profile_follows_events():
    conversion = mw_per_t_h(REPO_ROOT / "data" / "harbin")  # the city's MW per t/h (conversions.yaml)
    facts = SourceFacts(kind="coal_boiler", fuel="coal", current_fuel="gas", emission_class="ordinary",
                        capacity_mw=29.0, mw_per_t_h=conversion,
                        events=(("commissioned", date(2005, 1, 1)), ("converted_gas", date(2020, 8, 1))))
    assert profile_for(facts, date(2020, 1, 1)).fuel_group == "coal"
    assert profile_for(facts, date(2020, 10, 1)).fuel_group == "gas"
    assert profile_for(facts, date(2020, 1, 1)).capacity_t_h == pytest.approx(29.0 / conversion)
    # the data's value, no constant
    assert SourceFacts(kind="coal_boiler", fuel="coal", current_fuel="coal", capacity_mw=29.0,
                       mw_per_t_h=0.72).capacity_steam_t_h == pytest.approx(29.0 / 0.72)
    with pytest.raises(ValueError, match="mw_per_t_h"):  # MW alone and no conversion: no silent default
        profile_for(SourceFacts(kind="coal_boiler", fuel="coal", current_fuel="coal", capacity_mw=29.0),
                    date(2020, 1, 1))
    chp = SourceFacts(kind="coal_chp", fuel="coal", current_fuel="coal", emission_class="ultra_low",
                      capacity_t_h=670, events=(("ultra_low_retrofitted", date(2019, 9, 1)),))
    assert profile_for(chp, date(2019, 1, 1)) == SourceProfile("power", "coal", "ordinary", "existing", 670)
    assert profile_for(chp, date(2019, 12, 1)).emission_class == "ultra_low"
    gone = SourceFacts(kind="coal_boiler", fuel="coal", current_fuel="coal",
                       events=(("demolished", date(2019, 10, 1)),))
    assert facts_at(gone, date(2019, 9, 30)).in_service and not facts_at(gone, date(2019, 10, 1)).in_service
    assert profile_for(SourceFacts(kind="heat_pump", fuel="electricity", current_fuel="electricity"),
                       date(2020, 1, 1)) is None


def test_o2_correction_hand_computed():
    # DOMAIN.md §1.10: coal boiler, reference 9 %, measured 10.5 % -> factor (21-9)/(21-10.5) = 1.142857
    assert o2_corrected(18.5, 10.5, 9) == pytest.approx(18.5 * 12 / 10.5)
    assert o2_corrected(18.5, 10.5, 9) == pytest.approx(21.14, abs=0.01)  # the packet's ZsRtd 21.1
    assert o2_corrected(30.0, 6.0, 6.0) == 30.0
    assert o2_corrected(10.0, 20.5, 9) is None  # beyond the guard
    assert o2_corrected(10.0, -1.0, 9) is None


def test_readings_from_golden_packets():
    rt = readings_from_packet(parse_frame(REALTIME))
    assert {r.interval for r in rt} == {"rtd"}
    so2 = next(r for r in rt if r.factor == "a21026")
    assert (so2.avg, so2.zs_avg, so2.flag) == (18.5, 21.1, "N")
    assert so2.ts == datetime(2024, 12, 15, 2, 30, tzinfo=UTC)  # 10:30 Beijing time
    hr = {r.factor: r for r in readings_from_packet(parse_frame(HOURLY))}
    assert hr["a21026"].interval == "hour"
    assert (hr["a21026"].cou, hr["a21026"].min, hr["a21026"].max, hr["a21026"].zs_avg) == (1.685, 16.2, 21.0, 21.1)
    assert hr["a19001"].avg == 10.5
    assert hr["a00000"].cou == 91080.0


def test_bad_value_names_the_field():
    from tests.emissions.test_server import reframe

    p = parse_frame(reframe(REALTIME.replace(b"a21026-Rtd=18.5", b"a21026-Rtd=18x5")))
    with pytest.raises(HJ212Error) as ei:
        readings_from_packet(p)
    assert ei.value.reason == "bad_value" and ei.value.field == "a21026-Rtd"


def _minutes(n_valid, n_bad=0, conc=20.0, o2=10.5, bad_flag="C"):
    return [Sample(conc, o2, "N")] * n_valid + [Sample(conc, o2, bad_flag)] * n_bad


def test_hour_needs_45_valid_minutes():
    rules = Rules()
    h = evaluate_hour("a21026", _minutes(45, 15), None, ref_o2_pct=9, limit_mg_m3=35, rules=rules)
    assert h.valid and h.valid_minutes == 45 and h.basis == "minutes" and h.flag == "N"
    assert h.conc_zs_mg_m3 == pytest.approx(20 * 12 / 10.5)
    h = evaluate_hour("a21026", _minutes(44, 16), None, ref_o2_pct=9, limit_mg_m3=35, rules=rules)
    assert not h.valid and h.flag == "C" and "44 valid minutes" in h.reason and not h.exceeded


def test_hour_mean_of_converted_minutes_and_exceedance():
    minutes = [Sample(30.0, 6.0, "N")] * 30 + [Sample(30.0, 11.0, "N")] * 30
    h = evaluate_hour("a21002", minutes, None, ref_o2_pct=6, limit_mg_m3=35, rules=Rules())
    # half at 30 (O2 = ref), half at 30*15/10 = 45 -> mean 37.5 > 35
    assert h.conc_zs_mg_m3 == pytest.approx(37.5)
    assert h.o2_pct == pytest.approx(8.5)
    assert h.exceeded


def test_hour_falls_back_to_device_upload():
    dev = Sample(18.5, 10.5, "N", device_zs_mg_m3=21.1)
    h = evaluate_hour("a21026", _minutes(20), dev, ref_o2_pct=9, limit_mg_m3=35, rules=Rules())
    assert h.basis == "device" and h.valid and h.minutes_received == 20
    assert h.conc_zs_mg_m3 == pytest.approx(21.142857, rel=1e-6)
    assert h.device_zs_mg_m3 == 21.1
    bad = evaluate_hour("a21026", [], Sample(18.5, 10.5, "M"), ref_o2_pct=9, limit_mg_m3=35, rules=Rules())
    assert not bad.valid and "flagged M" in bad.reason
    no_o2 = evaluate_hour("a21026", [], Sample(18.5, None, "N", device_zs_mg_m3=21.1), ref_o2_pct=9,
                          limit_mg_m3=35, rules=Rules())
    assert no_o2.valid and no_o2.conc_zs_mg_m3 == 21.1  # the device's converted value when no O2 came
    none = evaluate_hour("a21026", [], None, ref_o2_pct=9, limit_mg_m3=35, rules=Rules())
    assert not none.valid and none.basis == "none"


def test_day_needs_20_valid_hours():
    ok = evaluate_hour("a21026", _minutes(60, conc=10.0, o2=9.0), None, ref_o2_pct=9, limit_mg_m3=35)
    bad = evaluate_hour("a21026", _minutes(10, 50), None, ref_o2_pct=9, limit_mg_m3=35)
    d = evaluate_day("a21026", [ok] * 20 + [bad] * 4, limit_mg_m3=35)
    assert d.valid and d.valid_hours == 20 and d.conc_zs_mg_m3 == pytest.approx(10.0)
    assert not evaluate_day("a21026", [ok] * 19 + [bad] * 5, limit_mg_m3=35).valid


def test_exceedance_runs_merge_consecutive_hours():
    hrs = [(T0 + timedelta(hours=h), h in (2, 3, 4, 7), 40.0 + h, 35.0) for h in range(10)]
    runs = exceedance_runs(reversed(hrs))
    assert [(r.start, r.end, r.hours, r.max_zs_mg_m3) for r in runs] == [
        (T0 + timedelta(hours=2), T0 + timedelta(hours=5), 3, 44.0),
        (T0 + timedelta(hours=7), T0 + timedelta(hours=8), 1, 47.0),
    ]


def test_missing_hourly_data():
    last = T0
    assert not hourly_data_missing(last, T0 + timedelta(hours=2))
    assert hourly_data_missing(last, T0 + timedelta(hours=2, minutes=1))
    assert hourly_data_missing(None, T0)


def test_rules_file_matches_defaults():
    assert read_rules(DATA) == Rules()


def test_monthly_compliance_summary():
    start, end = month_bounds(2020, 12)
    assert end - start == timedelta(days=31)
    recs = []
    for i in range(31 * 24):
        ts = start + timedelta(hours=i)
        # 700 valid hours per pollutant; SO2 exceeds in 20 of them; 44 hours invalid
        valid = i < 700
        recs.append(HourRecord(ts, "a21026", valid, valid and i < 20, 40.0 if i < 20 else 20.0, 35.0))
        recs.append(HourRecord(ts, "a21002", valid, False, 30.0, 50.0))
        recs.append(HourRecord(ts, "a34013", valid, False, 5.0, 10.0))
    s = summarise(recs, start, end, threshold=0.95, rules=Rules())
    assert s.judged == 2100 and s.within == 2080
    # per pollutant, never pooled (issue #11): the lowest share is SO2's 680/700, not 2080/2100
    assert s.share_within == pytest.approx(680 / 700)
    assert s.pollutants["a21026"].exceeded_hours == 20
    assert s.pollutants["a21026"].max_zs_mg_m3 == 40.0
    assert s.valid_hours == 700 and s.capture == pytest.approx(700 / 744)
    assert s.compliant
    strict = summarise(recs, start, end, threshold=0.995, rules=Rules())
    assert strict.compliant is False
    assert "SO2 97.1% of valid hours within the limit < 99.5% (20 of 700 h over 35 mg/m³)" in strict.reason
    thin = summarise(recs[: 3 * 300], start, end, threshold=0.95, rules=Rules())
    assert thin.compliant is False and "data capture" in thin.reason
    assert summarise([], start, end, threshold=0.95).compliant is None


def test_heating_season_windows():
    harbin = SeasonDates(10, 20, 4, 20)
    assert harbin.window_for(date(2020, 12, 31)) == (date(2020, 10, 20), date(2020, 12, 31), "2020-2021")
    assert harbin.window_for(date(2021, 3, 31)) == (date(2020, 10, 20), date(2021, 3, 31), "2020-2021")
    assert harbin.window_for(date(2021, 6, 30)) == (date(2020, 10, 20), date(2021, 4, 20), "2020-2021")
    assert harbin.window_for(date(2021, 9, 30)) == (date(2020, 10, 20), date(2021, 4, 20), "2020-2021")
    assert harbin.window_for(date(2021, 10, 19)) == (date(2020, 10, 20), date(2021, 4, 20), "2020-2021")


def test_capture_is_measured_against_the_hours_in_service():
    """A source in service 30 of 100 days, every one of those hours valid and within limits: capture 1.0."""
    start = datetime(2020, 11, 1, tzinfo=CHINA_TZ)
    end = start + timedelta(days=100)
    served = start + timedelta(days=70)
    recs = [HourRecord(served + timedelta(hours=i), p, True, False, 5.0, 50.0)
            for i in range(30 * 24) for p in ("a21026", "a21002", "a34013")]
    s = summarise(recs, start, end, threshold=0.95, rules=Rules(), hours_in_period=30 * 24)
    assert s.capture == pytest.approx(1.0) and s.hours_in_period == 30 * 24
    assert s.compliant is True and s.reason == ""
    # without the service hours the whole window is the denominator
    assert summarise(recs, start, end, threshold=0.95, rules=Rules()).capture == pytest.approx(0.3)
