"""Evidence per source over whole heating-day windows and the verified rate, on small constructed databases
(SQLite and PostgreSQL; issue #11 items 2, 3, 4 and the JSON contract). Every expected number is worked out in the
comments."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from cleanheat.assets.tables import HeatSource
from cleanheat.emissions.compliance import CHINA_TZ
from cleanheat.emissions.ledger_link import period_windows, source_verdicts
from cleanheat.programme import indicators
from cleanheat.programme.model import Period
from cleanheat.programme.plan_data import read_plan
from cleanheat.programme.service import evaluation_to_dict
from tests.emissions.conftest import store_hours

NOW = datetime(2026, 1, 1, tzinfo=UTC)
H = timedelta(hours=1)
#: the heating days of 2021 in Beijing time: 1 Jan - 20 Apr (110 days) and 20 Oct - 31 Dec (73 days)
WINDOWS_2021 = [(datetime(2021, 1, 1, tzinfo=CHINA_TZ), datetime(2021, 4, 21, tzinfo=CHINA_TZ)),
                (datetime(2021, 10, 20, tzinfo=CHINA_TZ), datetime(2022, 1, 1, tzinfo=CHINA_TZ))]
HOURS_2021 = (110 + 73) * 24  # 4392
FEB_2021 = (datetime(2021, 2, 1, tzinfo=CHINA_TZ), datetime(2021, 3, 1, tzinfo=CHINA_TZ))  # 28 days = 672 h


def hour_rows(point_id: int, windows, nox_over=lambda ts: False) -> list[dict]:
    """Every hour of the windows valid; PM, SO2 within limits; NOx over its limit when ``nox_over(ts)``."""
    rows = []
    for lo, hi in windows:
        t = lo.astimezone(UTC)
        while t < hi:
            for p, zs, lim in (("a34013", 3.0, 10.0), ("a21026", 20.0, 35.0), ("a21002", 30.0, 50.0)):
                exc = p == "a21002" and nox_over(t)
                z = 60.0 if exc else zs
                rows.append({"point_id": point_id, "ts": t, "pollutant": p, "conc_mg_m3": z, "o2_pct": 9.0,
                             "conc_zs_mg_m3": z, "device_zs_mg_m3": None, "limit_mg_m3": lim, "ref_o2_pct": 9.0,
                             "limit_set": "x", "valid": True, "exceeded": exc, "valid_minutes": 60,
                             "minutes_received": 60, "flag": "N", "basis": "minutes", "reason": "",
                             "computed_at": t})
            t += H
    return rows


def store(world, rows: list[dict]) -> None:
    """Store the hours and, as the rollup does after ingest, the daily values the evaluation reads."""
    with world.session() as s:
        store_hours(s, rows)


def in_feb(ts: datetime) -> bool:
    return FEB_2021[0] <= ts < FEB_2021[1]


def test_year_end_evaluation_sees_january_to_april(world):
    """NOx over the limit in every hour of February 2021 only. The 2021 evaluation covers 4392 heating hours,
    672 of them over: NOx 3720/4392 = 84.70 % < 95 % -> non-compliant. (Before issue #11 the year looked only at
    20 Oct - 31 Dec, where the boiler was clean.)"""
    store(world, hour_rows(world.points["T-BLR1"], WINDOWS_2021, in_feb))
    plan = read_plan(world.settings.city_dir)
    with world.session() as s:
        year = {v.source_code: v for v in source_verdicts(s, plan, Period(2021, 4), settings=world.settings, now=NOW)}
        q1 = {v.source_code: v for v in source_verdicts(s, plan, Period(2021, 1), settings=world.settings,
                                                             now=NOW)}
    blr = year["T-BLR1"]
    assert blr.evidence == "non_compliant" and blr.valid_hours == HOURS_2021
    assert blr.pollutants["NOx"] == {"valid_hours": HOURS_2021, "compliant_share": pytest.approx(3720 / 4392)}
    assert blr.pollutants["SO2"]["compliant_share"] == 1.0 and blr.capture == pytest.approx(1.0)
    assert "NOx 84.6% of valid hours within the limit < 95.0% (672 of 4392 h" in blr.reason
    # Q1 2021 (1 Jan - 31 Mar, 2160 h) holds February too: 1488/2160 = 68.9 %
    assert q1["T-BLR1"].pollutants["NOx"]["compliant_share"] == pytest.approx(1488 / 2160)


def test_bag_filter_rule(world):
    """A biomass boiler with clean data: compliant with a bag filter, non-compliant registered without one,
    unaffected when not recorded."""
    store(world, hour_rows(world.points["T-BIO1"], WINDOWS_2021))
    plan = read_plan(world.settings.city_dir)

    def bio_with(bag):
        with world.session() as s:
            src = s.get(HeatSource, world.sources["T-BIO1"])
            src.extra = {} if bag is None else {"bag_filter": bag}
        with world.session() as s:
            return next(v for v in source_verdicts(s, plan, Period(2021, 4), settings=world.settings, now=NOW)
                        if v.source_code == "T-BIO1")

    assert bio_with(True).evidence == "compliant"
    missing = bio_with(False)
    assert missing.evidence == "non_compliant" and "bag filter" in missing.reason and missing.bag_filter is False
    unknown = bio_with(None)
    assert unknown.evidence == "compliant" and unknown.bag_filter is None


def test_verified_rate_and_json_contract(world):
    """Two units in a constructed evaluation of 2021 (m2):

    daoli urban:   coal_chp_ultralow 6,000,000 (T-CHP1 serves 5,000,000, compliant; 1,000,000 without a source);
                   gas 500,000 (T-GAS1 serves 250,000, not required; the rest needs no source); coal_boiler 1,000,000
    nangang urban: coal_boiler_ultralow 1,200,000 (T-BLR1, NOx over the limit all February -> non-compliant)

    urban heated 8,700,000; reported clean 7,700,000; moved (non-compliant) 1,200,000 -> reported rate
    6,500,000/8,700,000; unevidenced 1,000,000 -> verified 5,500,000/8,700,000."""
    store(world, hour_rows(world.points["T-CHP1"], WINDOWS_2021))
    store(world, hour_rows(world.points["T-BLR1"], WINDOWS_2021, in_feb))
    plan = read_plan(world.settings.city_dir)
    figs = [indicators.UnitFigures("gov-daoli", "daoli", Period(2021, 4), 1, areas={
                ("urban", "coal_chp_ultralow"): 6_000_000.0, ("urban", "gas"): 500_000.0,
                ("urban", "coal_boiler"): 1_000_000.0}),
            indicators.UnitFigures("gov-nangang", "nangang", Period(2021, 4), 2, areas={
                ("urban", "coal_boiler_ultralow"): 1_200_000.0})]
    with world.session() as s:
        verdicts = source_verdicts(s, plan, Period(2021, 4), settings=world.settings, now=NOW)
    windows = period_windows([Period(2021, 4)], settings=world.settings, now=NOW)[Period(2021, 4)]
    ev = indicators.evaluate(plan, Period(2021, 4), figs, verdicts=verdicts, annual=True, windows=windows)
    d = evaluation_to_dict(ev)
    urban = d["rates"]["urban"]
    assert urban["actual"] == pytest.approx(6_500_000 / 8_700_000)
    assert urban["verified"] == pytest.approx(5_500_000 / 8_700_000)
    assert urban["unverified_m2"] == pytest.approx(1_000_000) and urban["reclassified_m2"] == pytest.approx(1_200_000)
    assert d["rates"]["city"]["verified"] == pytest.approx(5_500_000 / 8_700_000)
    assert d["rates"]["city"]["unverified_m2"] == pytest.approx(1_000_000)
    assert d["verification"]["windows"] == [{"start": "2021-01-01", "end": "2021-04-20"},
                                            {"start": "2021-10-20", "end": "2021-12-31"}]
    src = {x["code"]: x for x in d["verification"]["sources"]}
    # one entry per registered source under a clean technology; the ordinary coal boiler T-BLR2 is not one
    assert set(src) == {"T-CHP1", "T-BLR1", "T-BIO1", "T-GAS1", "T-HP1"}
    chp = src["T-CHP1"]
    assert {k: chp[k] for k in ("technology", "area_type", "served_area_m2", "evidence", "counted_clean_m2")} == {
        "technology": "coal_chp_ultralow", "area_type": "urban", "served_area_m2": 5_000_000.0,
        "evidence": "compliant", "counted_clean_m2": pytest.approx(5_000_000)}
    assert chp["pollutants"] == {"PM": {"valid_hours": HOURS_2021, "compliant_share": 1.0},
                                 "SO2": {"valid_hours": HOURS_2021, "compliant_share": 1.0},
                                 "NOx": {"valid_hours": HOURS_2021, "compliant_share": 1.0}}
    assert src["T-BLR1"]["evidence"] == "non_compliant" and src["T-BLR1"]["counted_clean_m2"] == 0
    assert src["T-BLR1"]["reclassified_m2"] == pytest.approx(1_200_000)
    assert src["T-GAS1"]["evidence"] == "not_required" and src["T-GAS1"]["counted_clean_m2"] == pytest.approx(250_000)
    assert src["T-HP1"]["pollutants"] == {} and src["T-HP1"]["counted_clean_m2"] == 0  # daoli reported no electric
    assert d["verification"]["unattributed"] == [{
        "admin_unit_code": "daoli", "area_type": "urban", "technology": "coal_chp_ultralow",
        "reported_m2": 6_000_000.0, "registered_m2": 5_000_000.0, "unverified_m2": 1_000_000.0}]
    # the unit figures carry the same split
    daoli = next(u for u in d["units"] if u["code"] == "daoli")["rates"]["urban"]
    assert daoli["verified"] == pytest.approx(5_500_000 / 7_500_000) and daoli["unverified_m2"] == pytest.approx(1e6)
