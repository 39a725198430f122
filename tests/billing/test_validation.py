"""Register validation: every kind on hand-made series (values worked out by hand in the comments), properties of
clean and disturbed series (hypothesis), the gap estimates and the rules file."""

from __future__ import annotations

import shutil
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from cleanheat.billing.validation import (
    MeterFacts,
    Read,
    Replacement,
    Series,
    ValidationRulesError,
    bridged,
    estimate_consumption,
    group_reads,
    read_validation_rules,
    validate_meter,
    validate_reads,
)
from cleanheat.climate import HeatingSeason

DATA = Path(__file__).resolve().parents[2] / "data"
RULES = read_validation_rules(DATA, date(2021, 1, 1))
SEASON = HeatingSeason(10, 20, 4, 20)
T0 = datetime(2021, 1, 10, tzinfo=UTC)  # in Harbin's heating season
SUMMER = datetime(2021, 7, 10, tzinfo=UTC)


def series(energy_kwh, *, start=T0, step_h=1.0, meter="m1", **cols) -> Series:
    """A meter's series read every ``step_h`` hours from ``start``; other columns as lists (None: not read)."""
    n = len(energy_kwh)
    ts = [start + timedelta(hours=step_h * i) for i in range(n)]
    reads = [Read(meter, t, float(e), **{k: v[i] for k, v in cols.items()}) for i, (t, e) in enumerate(
        zip(ts, energy_kwh, strict=True))]
    return group_reads(reads)[meter]


def ramp(n: int, per_h: float = 2.0, start_kwh: float = 1000.0) -> list[float]:
    return [start_kwh + per_h * i for i in range(n)]


def kinds(findings) -> list[tuple[str, datetime]]:
    return [(f.kind, f.ts) for f in findings]


def at(i: int, start=T0, step_h=1.0) -> datetime:
    return start + timedelta(hours=step_h * i)


# --- hand-made series, one per kind -------------------------------------------------------------------------

def test_clean_ramp_has_no_findings() -> None:
    assert validate_meter(series(ramp(100)), RULES, season=SEASON) == []


def test_rollback_small_drop_that_stays() -> None:
    e = ramp(50)
    e[20:] = [x - 10 for x in e[20:]]  # 1038 -> 1030: down 8 kWh (of 1038: a small share, not near zero)
    assert kinds(validate_meter(series(e), RULES)) == [("rollback", at(20))]


def test_one_reading_dip_is_one_rollback_and_is_bridged() -> None:
    e = ramp(50)
    e[20] = 1000.0  # one bad reading; the next one is back on the ramp
    found = validate_meter(series(e), RULES)
    assert kinds(found) == [("rollback", at(20))]
    assert "one reading" in found[0].detail


def test_reset_to_near_zero() -> None:
    e = ramp(50)
    e[30:] = [0.5 + 2.0 * i for i in range(20)]  # 1058 -> 0.5 kWh: near zero (<= max(1, 1 % of 1058))
    assert kinds(validate_meter(series(e), RULES)) == [("reset", at(30))]


def test_large_drop_not_to_zero_is_a_suspected_replacement() -> None:
    e = ramp(50)
    e[30:] = [200.0 + 2.0 * i for i in range(20)]  # 1058 -> 200: 81 % lost (> 50 %), not near zero
    found = validate_meter(series(e), RULES)
    assert kinds(found) == [("replacement", at(30))]
    assert "suspected" in found[0].detail


def test_recorded_replacement_bridges_consumption() -> None:
    e = ramp(20) + [5.0 + 2.0 * i for i in range(20)]
    # old meter read 1038 at 19 h, final 1039 at 19.5 h; new meter initial 4 kWh, read 5 at 20 h: 1 + 1 kWh
    rec = Replacement("m1", at(19) + timedelta(minutes=30), old_final_kwh=1039.0, new_initial_kwh=4.0,
                      old_serial="A1", new_serial="B2")
    found = validate_meter(series(e), RULES, replacements=[rec])
    assert kinds(found) == [("replacement", at(20))]
    assert "A1 → B2" in found[0].detail


def test_serial_change_is_a_replacement() -> None:
    e = ramp(20) + [3.0 + 2.0 * i for i in range(20)]
    serials = ["A1"] * 20 + ["B2"] * 20
    assert kinds(validate_meter(series(e, serial=serials), RULES)) == [("replacement", at(20))]


def test_gap_at_the_first_missing_reading() -> None:
    e = ramp(60)
    s = series(e)
    keep = np.r_[0:25, 31:60]  # readings 25..30 missing: the interval 24 h -> 31 h is 7 h long (cadence 1 h)
    s = Series("m1", s.ts_s[keep], s.energy_kwh[keep], *(getattr(s, c)[keep] for c in
               ("volume_m3", "flow_m3_h", "supply_temp_c", "return_temp_c")))
    found = validate_meter(s, RULES)
    assert kinds(found) == [("gap", at(25))]
    assert "about 6 readings" in found[0].detail


def _monthly_in_seasons(skip: set[tuple[int, int]] = frozenset()) -> Series:
    """A Harbin flat read on the 25th of each heating-season month, 2019-2021 (nothing read in summer)."""
    months = [(y, m) for y in (2019, 2020, 2021) for m in (1, 2, 3, 4, 10, 11, 12)
              if (y, m) not in skip and not (y == 2019 and m < 10) and not (y == 2021 and m > 4)]
    reads = [Read("f", datetime(y, m, 1, tzinfo=UTC) + timedelta(days=24), 1000.0 + 1500 * i)
             for i, (y, m) in enumerate(months)]
    return group_reads(reads)["f"]


def test_a_meter_read_only_in_heating_seasons_misses_nothing_in_summer() -> None:
    assert validate_meter(_monthly_in_seasons(), RULES, season=SEASON) == []
    found = validate_meter(_monthly_in_seasons({(2021, 1)}), RULES, season=SEASON)
    assert [f.kind for f in found] == ["gap"] and "2020-12-25" in found[0].detail


def test_spike_one_interval_far_above_the_local_level() -> None:
    e = ramp(100)
    e[50:] = [x + 100 for x in e[50:]]  # 102 kWh in one hour where the level is 2 kW: > 2 + 10 x 1 kW and > 5 x 2
    assert kinds(validate_meter(series(e), RULES)) == [("spike", at(50))]


def test_one_reading_above_both_neighbours_is_one_spike() -> None:
    e = ramp(100)
    e[50] += 500
    assert kinds(validate_meter(series(e), RULES)) == [("spike", at(50))]


def test_summer_hot_water_draw_is_no_spike() -> None:
    # near zero for days, then one hour of 6 kWh (a hot-water draw): below median 0 + 10 x 1 kW
    inc = [0.0] * 40 + [6.0] + [0.0] * 40
    e = list(np.cumsum([1000.0] + inc))
    assert validate_meter(series(e, start=SUMMER), RULES, season=SEASON) == []


def test_spike_above_what_the_meter_can_measure() -> None:
    # qp 0.6 m³/h: at most 0.6 x 1.163 x 80 = 55.8 kW; a steady 60 kW is above it (no statistical spike)
    e = ramp(30, per_h=60.0)
    found = validate_meter(series(e), RULES, facts=MeterFacts("m1", qp_m3_h=0.6))
    assert kinds(found) == [("spike", at(1))]
    assert "55.8 kW" in found[0].detail


def test_stuck_while_water_flows() -> None:
    e = ramp(20) + [1038.0] * 60 + ramp(20, start_kwh=1040.0)
    flow = [0.1] * 100
    found = validate_meter(series(e, flow_m3_h=flow), RULES)
    assert kinds(found) == [("stuck", at(20))]  # the first reading that did not advance


def test_unchanged_register_without_flow_out_of_season_is_not_stuck() -> None:
    e = ramp(20) + [1038.0] * 60 + ramp(20, start_kwh=1040.0)
    assert validate_meter(series(e, start=SUMMER, flow_m3_h=[0.0] * 100), RULES, season=SEASON) == []


def test_stuck_in_season_by_own_history() -> None:
    e = ramp(100) + [1198.0] * 60 + ramp(100, start_kwh=1200.0)
    assert kinds(validate_meter(series(e), RULES, season=SEASON)) == [("stuck", at(100))]


def test_stuck_in_season_judged_by_neighbours() -> None:
    flat = series([500.0] * 80, meter="flat")
    others = {f"n{i}": series(ramp(80), meter=f"n{i}") for i in range(3)}
    found = validate_reads({"flat": flat} | others, RULES, season=SEASON)
    assert kinds(found) == [("stuck", at(1))]
    assert "100%" in found[0].detail
    quiet = {f"n{i}": series([700.0] * 80, meter=f"n{i}") for i in range(3)}  # nobody heats: a vacant block
    assert validate_reads({"flat": flat} | quiet, RULES, season=SEASON) == []


def test_negative_temperature_is_implausible() -> None:
    sup = [70.0] * 30
    ret = [40.0] * 10 + [-3.0] * 2 + [40.0] * 18
    found = validate_meter(series(ramp(30), supply_temp_c=sup, return_temp_c=ret), RULES)
    assert kinds(found) == [("implausible", at(10))]
    assert "-3.0 °C" in found[0].detail


def test_return_above_supply_for_long_only() -> None:
    sup = [60.0] * 40
    short = [40.0] * 10 + [65.0] * 3 + [40.0] * 27  # 3 h: shorter than 6 h
    long = [40.0] * 10 + [65.0] * 8 + [40.0] * 22  # 8 h
    assert validate_meter(series(ramp(40), supply_temp_c=sup, return_temp_c=short), RULES) == []
    assert kinds(validate_meter(series(ramp(40), supply_temp_c=sup, return_temp_c=long), RULES)) == [
        ("implausible", at(10))]


def test_flow_above_twice_qp() -> None:
    flow = [0.5] * 20 + [1.5] + [0.5] * 9  # qp 0.6: 2 x qp = 1.2 m³/h
    found = validate_meter(series(ramp(30), flow_m3_h=flow), RULES, facts=MeterFacts("m1", 0.6))
    assert kinds(found) == [("implausible", at(20))]


def test_energy_inconsistent_with_volume_and_delta_t() -> None:
    # 0.05 m³/h x 20 K x 1.163 = 1.163 kWh/h expected; the register says 1.163 kWh/h except hours of 9 kWh:
    # 9 > 2 x 1.163 + 5 (and 9 kWh is no statistical spike here: the local median follows them up)
    inc = [1.163] * 40
    for n_hours, found_at in ((8, [("implausible", at(16))]), (5, [])):  # 8 h: a finding; 5 h (< 6 h): none
        inc_here = inc[:15] + [9.0] * n_hours + inc[15 + n_hours:]
        e = list(np.cumsum([1000.0] + inc_here))
        vol = [10 + 0.05 * i for i in range(41)]
        found = validate_meter(series(e, volume_m3=vol, supply_temp_c=[60.0] * 41, return_temp_c=[40.0] * 41),
                               RULES)
        assert kinds(found) == found_at


def test_energy_without_any_water_is_implausible() -> None:
    e = ramp(30, per_h=7.0)
    found = validate_meter(series(e, volume_m3=[10.0] * 30, supply_temp_c=[60.0] * 30,
                                  return_temp_c=[40.0] * 30), RULES)
    assert kinds(found) == [("implausible", at(1))]


# --- properties ---------------------------------------------------------------------------------------------

increments = st.lists(st.floats(0.5, 3.0), min_size=30, max_size=150)


@settings(max_examples=60, deadline=None)
@given(increments, st.floats(0, 1e6))
def test_property_clean_monotone_series_has_no_findings(inc, start) -> None:
    e = list(np.cumsum([start] + inc))
    assert validate_meter(series(e), RULES, season=SEASON) == []


@settings(max_examples=60, deadline=None)
@given(increments, st.data())
def test_property_one_rollback_gives_exactly_one_rollback_there(inc, data) -> None:
    e = np.cumsum([5000.0] + inc)
    k = data.draw(st.integers(2, len(e) - 2))
    d = data.draw(st.floats(inc[k - 1] + 0.05, 500.0))  # enough to go below the previous reading; < 10 %
    e[k:] -= d
    found = validate_meter(series(list(e)), RULES, season=SEASON)
    assert kinds(found) == [("rollback", at(k))]


@settings(max_examples=60, deadline=None)
@given(increments, st.data())
def test_property_one_reset_gives_exactly_one_reset_there(inc, data) -> None:
    e = np.cumsum([5000.0] + inc)
    k = data.draw(st.integers(2, len(e) - 2))
    e[k:] -= e[k] - data.draw(st.floats(0.0, 1.0))
    assert kinds(validate_meter(series(list(e)), RULES, season=SEASON)) == [("reset", at(k))]


@settings(max_examples=60, deadline=None)
@given(increments, st.data())
def test_property_removed_readings_give_exactly_one_gap(inc, data) -> None:
    e = list(np.cumsum([100.0] + inc))
    k = data.draw(st.integers(2, len(e) - 4))
    m = data.draw(st.integers(1, min(10, len(e) - k - 2)))
    s = series(e)
    keep = np.r_[0:k, k + m:len(e)]
    s = Series("m1", s.ts_s[keep], s.energy_kwh[keep], *(getattr(s, c)[keep] for c in
               ("volume_m3", "flow_m3_h", "supply_temp_c", "return_temp_c")))
    assert kinds(validate_meter(s, RULES, season=SEASON)) == [("gap", at(k))]


@settings(max_examples=40, deadline=None)
@given(increments, st.data())
def test_property_a_jump_gives_exactly_one_spike_there(inc, data) -> None:
    e = np.cumsum([100.0] + inc)
    k = data.draw(st.integers(1, len(e) - 1))
    e[k:] += data.draw(st.floats(40.0, 1e4))  # > 3 + 10 x max(1.48 MAD, 1) and > 5 x median (<= 15 kWh)
    assert kinds(validate_meter(series(list(e)), RULES, season=SEASON)) == [("spike", at(k))]


@settings(max_examples=40, deadline=None)
@given(st.lists(st.floats(0.5, 3.0), min_size=120, max_size=200), st.data())
def test_property_a_stopped_register_while_water_flows_gives_exactly_one_stuck(inc, data) -> None:
    e = np.cumsum([100.0] + inc)
    k = data.draw(st.integers(1, len(e) - 60))
    n = data.draw(st.integers(49, len(e) - k))  # readings k .. k+n-1 show the value of k-1: n >= 49 intervals
    lost = e[k + n - 1] - e[k - 1]
    e[k:k + n] = e[k - 1]
    e[k + n:] -= lost
    found = validate_meter(series(list(e), flow_m3_h=[0.1] * len(e)), RULES, season=SEASON)
    assert kinds(found) == [("stuck", at(k))]


@settings(max_examples=40, deadline=None)
@given(increments, st.data())
def test_property_a_recorded_replacement_gives_exactly_one_replacement(inc, data) -> None:
    e = np.cumsum([5000.0] + inc)
    k = data.draw(st.integers(1, len(e) - 1))
    new_initial = data.draw(st.floats(0.0, 1e5))
    old_final = e[k - 1] + 0.1  # a little after the last read of the old meter
    e[k:] = e[k:] - e[k - 1] - 0.1 + new_initial  # the new meter goes on from its initial reading
    rec = Replacement("m1", at(k - 1) + timedelta(minutes=30), float(old_final), new_initial)
    found = validate_meter(series(list(e)), RULES, replacements=[rec], season=SEASON)
    assert kinds(found) == [("replacement", at(k))]


@settings(max_examples=40, deadline=None)
@given(increments, st.data())
def test_property_a_bad_temperature_run_gives_exactly_one_implausible(inc, data) -> None:
    e = list(np.cumsum([100.0] + inc))
    sup, ret = [60.0] * len(e), [40.0] * len(e)
    k = data.draw(st.integers(0, len(e) - 7))
    if data.draw(st.booleans()):  # swapped sensors for 6..len readings (>= 6 h with the hour's cadence)
        for i in range(k, k + data.draw(st.integers(6, len(e) - k))):
            sup[i], ret[i] = 40.0, 60.0
    else:  # one absurd return temperature
        ret[k] = data.draw(st.one_of(st.floats(-50, -0.1), st.floats(150.1, 1e4)))
    found = validate_meter(series(e, supply_temp_c=sup, return_temp_c=ret), RULES, season=SEASON)
    assert kinds(found) == [("implausible", at(k))]


@settings(max_examples=40, deadline=None)
@given(increments, st.data())
def test_property_findings_are_sorted_by_time_and_of_known_kinds(inc, data) -> None:
    e = np.cumsum([100.0] + inc)
    for _ in range(3):
        k = data.draw(st.integers(1, len(e) - 1))
        e[k] = data.draw(st.floats(0.0, 2000.0))
    found = validate_meter(series(list(e)), RULES, season=SEASON)
    assert [f.ts for f in found] == sorted(f.ts for f in found)
    assert all(f.meter_id == "m1" and " / " in f.detail for f in found)


# --- estimates ----------------------------------------------------------------------------------------------

def test_estimates_linear_degree_day_actual_and_extrapolated() -> None:
    s = series([100.0, 100.0 + 48 * 2], step_h=48)  # two reads 48 h apart, 96 kWh
    mid = T0 + timedelta(hours=12)
    lin = estimate_consumption(s, T0, mid)
    assert (lin.energy_kwh, lin.method, lin.estimated) == (pytest.approx(24.0), "linear", True)
    # the first local day (Beijing time) -10 °C: 28 K, the second 8 °C: 10 K; T0 = 08:00 local. Degree-hours:
    # day 1 16 h x 28 = 448, day 2 24 h x 10 = 240, day 3 8 h x 0 (no weather: no weight) -> total 688;
    # to T0 + 12 h: 12 x 28 = 336 -> 96 x 336/688
    weather = {date(2021, 1, 10): -10.0, date(2021, 1, 11): 8.0}
    dd = estimate_consumption(s, T0, mid, weather)
    assert (dd.energy_kwh, dd.method) == (pytest.approx(96 * 336 / 688), "degree_day")
    actual = estimate_consumption(s, T0, T0 + timedelta(hours=48))
    assert (actual.energy_kwh, actual.method, actual.estimated) == (96.0, "actual", False)
    ext = estimate_consumption(s, T0, T0 + timedelta(hours=60))
    assert (ext.energy_kwh, ext.method) == (pytest.approx(120.0), "extrapolated")


# --- the rules as data --------------------------------------------------------------------------------------

def test_rules_are_read_from_the_data_dir_and_dated(tmp_path) -> None:
    shutil.copytree(DATA / "billing", tmp_path / "billing")
    path = tmp_path / "billing" / "validation.yaml"
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    newer = yaml.safe_load(yaml.safe_dump(doc["rule_sets"][0]))
    doc["rule_sets"][0]["valid_to"] = date(2030, 1, 1)
    newer.update(id="later", valid_from=date(2030, 1, 1))
    newer["rules"]["gap_factor"]["value"] = 3.0
    doc["rule_sets"].append(newer)
    path.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    assert read_validation_rules(tmp_path, date(2029, 12, 31)).gap_factor == 1.5
    assert read_validation_rules(tmp_path, date(2030, 1, 1)).rule_set_id == "later"
    assert read_validation_rules(tmp_path, date(2030, 1, 1)).gap_factor == 3.0


def test_a_broken_rules_file_names_row_and_field(tmp_path) -> None:
    shutil.copytree(DATA / "billing", tmp_path / "billing")
    path = tmp_path / "billing" / "validation.yaml"
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    del doc["rule_sets"][0]["rules"]["gap_factor"]["source"]
    doc["rule_sets"][0]["rules"]["spike_mad_k"]["value"] = "ten"
    path.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    with pytest.raises(ValidationRulesError) as exc:
        read_validation_rules(tmp_path, date(2021, 1, 1))
    assert {(i.row, i.field) for i in exc.value.issues} == {(1, "rules.gap_factor"), (1, "rules.spike_mad_k")}


# --- a real meter (28 days of a Danish house, tests/billing/data/README.md) ---------------------------------

REAL = Path(__file__).parent / "data" / "dk_meter_660_2018-01.csv"


def _real() -> Series:
    from cleanheat.billing.reads import read_reads_csv

    return read_reads_csv(REAL, 10**6)["660"]


def _edit(s: Series, energy_kwh: np.ndarray, keep: np.ndarray | None = None) -> Series:
    keep = np.arange(len(s)) if keep is None else keep
    return Series(s.meter_id, s.ts_s[keep], energy_kwh[keep], *(getattr(s, c)[keep] for c in
                  ("volume_m3", "flow_m3_h", "supply_temp_c", "return_temp_c")))


def test_real_meter_is_clean() -> None:
    s = _real()
    assert len(s) == 672
    assert validate_meter(s, RULES, season=SEASON) == []


def test_real_meter_with_one_anomaly_of_each_register_kind() -> None:
    s = _real()
    e = s.energy_kwh.copy()
    e[100:] -= 20.0  # rollback: about 3 kWh an hour here, down 20
    e[200:] -= e[200] - 0.3  # reset to 0.3 kWh
    e[400:] += 80.0  # spike: 80 kWh more in one hour
    lost = e[559] - e[500]
    e[500:560] = e[500]  # stuck for 59 h while the volume register goes on
    e[560:] -= lost
    keep = np.r_[0:300, 306:len(e)]  # gap: 6 hourly readings missing
    t = [datetime.fromtimestamp(int(x), UTC) for x in s.ts_s]
    found = validate_meter(_edit(s, e, keep), RULES, season=SEASON)
    assert kinds(found) == [("rollback", t[100]), ("reset", t[200]), ("gap", t[300]), ("spike", t[400]),
                            ("stuck", t[501])]
    assert "volume register rose" in found[-1].detail


def test_two_different_reads_at_the_same_time() -> None:
    reads = [Read("m1", at(i), 1000.0 + 2 * i) for i in range(30)]
    same = [Read("m1", at(10), 1020.0, flow_m3_h=0.1), Read("m1", at(20), 1099.0)]  # the first agrees
    found = validate_meter(group_reads(reads + same)["m1"], RULES)
    assert kinds(found) == [("implausible", at(20))] and "1,099.00" in found[0].detail


def test_spike_floor_follows_the_interval() -> None:
    # monthly reads of 1500 kWh (2.08 kW): +9000 kWh in one month is 14.6 kW; the floor for 720 h is
    # 1 kW / sqrt(720) = 0.037 kW, so the spike needs > 5 x 2.08 = 10.4 kW: found
    e = list(np.cumsum([1000.0] + [1500.0] * 12))
    e[6:] = [x + 9000 for x in e[6:]]
    assert kinds(validate_meter(series(e, step_h=720), RULES)) == [("spike", at(6, step_h=720))]
    # 15-minute reads: a hot-water draw of 15 kW for a quarter hour (3.75 kWh) after near-zero quarters stays below
    # median 0.2 kW + 10 x (1 kW x sqrt(4)) = 20.2 kW, so it is no spike (an hourly floor would make it one)
    inc = [0.05] * 40 + [3.75] + [0.05] * 40
    assert validate_meter(series(list(np.cumsum([10.0] + inc)), step_h=0.25), RULES) == []


# --- bridging discontinuities for billing ---------------------------------------------------------------------

def test_a_clean_series_needs_no_bridge() -> None:
    s = series(ramp(30))
    assert bridged(s, RULES) == (s, 0)


def test_an_unrecorded_replacement_is_bridged_at_the_mean_rate_never_billed_as_zero() -> None:
    e = ramp(50)
    e[30:] = [200.0 + 2.0 * i for i in range(20)]  # new meter from 200 kWh at 30 h: the 29-30 h use is unknown
    s = series(e)
    assert estimate_consumption(s, at(0), at(49)).energy_kwh == 0.0  # the register's ends alone: nothing
    b, n = bridged(s, RULES)
    assert n == 1 and len(b) == 50
    # 48 usable hours at 2 kWh/h and the bridged hour at their mean rate (2 kWh/h): 98 kWh
    assert estimate_consumption(b, at(0), at(49)).energy_kwh == pytest.approx(98.0)
    assert estimate_consumption(b, at(0), at(29)).energy_kwh == pytest.approx(58.0)  # before it: as read


def test_a_recorded_replacement_is_bridged_by_its_reads_not_estimated() -> None:
    e = ramp(20) + [5.0 + 2.0 * i for i in range(20)]
    rec = Replacement("m1", at(19) + timedelta(minutes=30), old_final_kwh=1039.0, new_initial_kwh=4.0)
    b, n = bridged(series(e), RULES, [rec])
    assert n == 0
    # 19 h at 2 kWh/h, then 1 kWh on the old meter and 1 kWh on the new one, then 19 h at 2 kWh/h
    assert estimate_consumption(b, at(0), at(39)).energy_kwh == pytest.approx(38.0 + 2.0 + 38.0)


def test_a_reset_and_a_one_reading_spike_are_bridged() -> None:
    e = ramp(40)
    e[10] = 5000.0  # one reading far above both neighbours: left out
    e[25:] = [0.5 + 2.0 * i for i in range(15)]  # reset to near zero at 25 h
    b, n = bridged(series(e), RULES)
    assert n == 1 and len(b) == 39 and 5000.0 not in b.energy_kwh
    assert np.all(np.diff(b.energy_kwh) >= 0)
    assert estimate_consumption(b, at(0), at(39)).energy_kwh == pytest.approx(78.0)
