"""Supervision rules, limit-table choice, per-pollutant compliance and heating-day windows on hand-checked cases
(issue #11 items 1, 3, 4). Pure: no database."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest

from cleanheat.config import REPO_ROOT
from cleanheat.emissions.compliance import CHINA_TZ, HourRecord, SeasonDates, fmt_share, summarise
from cleanheat.emissions.errors import LimitTableError
from cleanheat.emissions.ledger_link import clipped_windows, in_service_days, period_days, period_windows
from cleanheat.emissions.limits import SourceFacts, limits_path, profile_for, read_limit_table
from cleanheat.emissions.processing import Rules
from cleanheat.emissions.supervision import read_supervision, supervision_path
from cleanheat.programme.model import Period

DATA = REPO_ROOT / "data"

HARBIN = SeasonDates(10, 20, 4, 20)
ON = date(2021, 12, 31)


def facts(kind: str, fuel: str, *, cap_t_h: float | None = None, cls: str = "ordinary",
          commissioned: date | None = None, vintage: str = "existing") -> SourceFacts:
    events = (("commissioned", commissioned),) if commissioned else ()
    return SourceFacts(kind=kind, fuel=fuel, current_fuel=fuel, emission_class=cls, vintage=vintage,
                       capacity_t_h=cap_t_h, events=events)


@pytest.mark.parametrize(("f", "area", "monitoring", "ultra_low", "bag", "rules"), [
    # plan §四(五): every coal CHP unit, whatever its size
    (facts("chp", "coal", cap_t_h=20.0), "rural", True, True, False, ("coal-chp-ultra-low",)),
    # coal boilers from 35 t/h (the boundary is "35蒸吨及以上": 35 counts, 34.9 does not)
    (facts("coal_boiler", "coal", cap_t_h=35.0), "urban", True, True, False, ("coal-boiler-ge35-ultra-low",)),
    (facts("coal_boiler", "coal", cap_t_h=34.9), "urban", False, False, False, ()),
    # unknown capacity is held to the requirement until registered
    (facts("coal_boiler", "coal"), "urban", True, True, False, ("coal-boiler-ge35-ultra-low",)),
    # plan §三(一)1: a new (2020) small coal boiler must be ultra-low too
    (facts("coal_boiler", "coal", cap_t_h=10.0, commissioned=date(2020, 5, 1)), "county_fringe", True, True, False,
     ("coal-new-ultra-low",)),
    # plan §四(五): biomass boilers and biomass CHP need monitoring and a bag filter
    (facts("biomass_boiler", "biomass", cap_t_h=4.0), "rural", True, False, True, ("biomass-bag-filter-monitoring",)),
    (facts("biomass_chp", "biomass", cap_t_h=130.0), "county_fringe", True, False, True,
     ("biomass-bag-filter-monitoring",)),
    # gas and heat pumps: nothing required
    (facts("gas_boiler", "gas", cap_t_h=83.0), "urban", False, False, False, ()),
    (facts("heat_pump", "electricity"), "urban", False, False, False, ()),
])
def test_which_sources_must_be_monitored(f, area, monitoring, ultra_low, bag, rules):
    req = read_supervision(supervision_path(DATA)).requirement_for(f, ON, area)
    assert (req.monitoring, req.ultra_low, req.bag_filter, req.rules) == (monitoring, ultra_low, bag, rules)
    assert all(req.clauses)  # every requirement says which clause it comes from


def test_rules_describe_their_conditions():
    rules = {r.id: r for r in read_supervision(supervision_path(DATA)).rules}
    assert rules["coal-boiler-ge35-ultra-low"].describe() == "fuel coal; kind boiler; capacity_t_h ≥ 35 t/h"
    assert rules["coal-new-ultra-low"].describe() == "fuel coal; commissioned from 2019-01-01"


def test_a_converted_boiler_follows_its_fuel():
    """A 40 t/h coal boiler converted to gas in 2020 must be monitored before, not after."""
    f = SourceFacts(kind="coal_boiler", fuel="coal", current_fuel="gas", capacity_t_h=40.0,
                    events=(("converted_gas", date(2020, 6, 1)),))
    assert read_supervision(supervision_path(DATA)).requirement_for(f, date(2019, 12, 31), "urban").monitoring
    assert not read_supervision(supervision_path(DATA)).requirement_for(f, date(2020, 12, 31), "urban").monitoring


def test_threshold_per_scope_and_class():
    sup = read_supervision(supervision_path(DATA))
    # a 670 t/h ultra-low coal CHP is a power unit: 99 % (ultra-low electricity-price rule)
    chp = profile_for(facts("chp", "coal", cap_t_h=670.0, cls="ultra_low"), ON)
    assert chp.scope == "power" and sup.threshold_for(chp).value == 0.99
    # an ultra-low coal heating boiler: 95 % (no share rule for heating boilers; platform policy)
    blr = profile_for(facts("coal_boiler", "coal", cap_t_h=83.0, cls="ultra_low"), ON)
    assert blr.scope == "boiler" and sup.threshold_for(blr).value == 0.95
    assert all(t.source for t in sup.thresholds)


def test_limit_table_follows_the_commissioning_date():
    """A gas peak boiler built in 2020 is a new boiler (GB 13271-2014 Table 2: PM 20, SO2 50, NOx 200) even when
    registered as existing; one built in 2010 stays on Table 1 (NOx 400)."""
    table = read_limit_table(limits_path(DATA))
    new = profile_for(facts("gas_boiler", "gas", cap_t_h=83.0, commissioned=date(2020, 10, 1)), ON)
    old = profile_for(facts("gas_boiler", "gas", cap_t_h=83.0, commissioned=date(2010, 10, 1)), ON)
    undated = profile_for(facts("gas_boiler", "gas", cap_t_h=83.0, vintage="new"), ON)
    assert new.vintage == "new" and table.select(new, ON).id == "gb13271-2014-t2-gas"
    assert table.select(new, ON).limit("a21002") == 200.0 and table.select(new, ON).limit("a21026") == 50.0
    assert old.vintage == "existing" and table.select(old, ON).id == "gb13271-2014-t1-gas"
    assert undated.vintage == "new"  # no date: the registration decides
    # biomass is judged by the coal column of GB 13271 (biomass briquette, DOMAIN.md §2.1)
    bio = profile_for(facts("biomass_boiler", "biomass", cap_t_h=20.0), ON)
    assert table.select(bio, ON).id == "gb13271-2014-t1-coal-gt10"


def test_malformed_supervision_file_names_row_and_field(tmp_path):
    bad = tmp_path / "supervision.yaml"
    bad.write_text("rules:\n  - {id: x, clause: c, source: s, match: {colour: red}, requires: {monitoring: true}}\n"
                   "compliance_thresholds:\n  - {id: d, match: {}, value: 1.5, source: s}\n", encoding="utf-8")
    with pytest.raises(LimitTableError) as exc:
        read_supervision(bad)
    fields = {(i.row, i.field) for i in exc.value.issues}
    assert (1, "match") in fields and (1, "compliance_thresholds.value") in fields


def _hours(start: datetime, n: int, nox_exceeds) -> list[HourRecord]:
    out = []
    for i in range(n):
        ts = start + timedelta(hours=i)
        out += [HourRecord(ts, "a34013", True, False, 5.0, 80.0), HourRecord(ts, "a21026", True, False, 50.0, 400.0),
                HourRecord(ts, "a21002", True, nox_exceeds(i), 450.0 if nox_exceeds(i) else 200.0, 400.0)]
    return out


def test_pollutants_are_never_pooled():
    """Issue #11: NOx over the limit in 14 % of 1000 valid hours, PM and SO2 clean. Pooled: 2860/3000 = 95.3 %
    ("compliant" at 95 %). Per pollutant: NOx 86.0 % < 95 % -> not compliant."""
    start = datetime(2021, 1, 1, tzinfo=CHINA_TZ)
    recs = _hours(start, 1000, lambda i: i % 50 < 7)
    s = summarise(recs, start, start + timedelta(hours=1000), threshold=0.95, rules=Rules())
    assert s.within / s.judged == pytest.approx(0.9533, abs=1e-4)  # the old pooled share
    assert s.pollutants["a21002"].share_within == pytest.approx(0.86)
    assert s.share_within == pytest.approx(0.86) and s.compliant is False
    assert [p.pollutant for p in s.failing] == ["a21002"]
    assert "NOx 86.0% of valid hours within the limit < 95.0% (140 of 1000 h over 400 mg/m³)" in s.reason


def test_shares_never_print_as_the_threshold():
    assert fmt_share(0.94996) == "94.9%" and fmt_share(0.95) == "95.0%" and fmt_share(0.9999) == "99.9%"
    assert fmt_share(19 / 20) == "95.0%" and fmt_share(949 / 1000) == "94.9%" and fmt_share(None) == "–"
    # 1899 of 1999 hours = 94.9975 %: below 95 % and printed below it (rounding would print 95.0 %)
    start = datetime(2021, 1, 1, tzinfo=CHINA_TZ)
    recs = _hours(start, 1999, lambda i: i < 100)
    s = summarise(recs, start, start + timedelta(hours=1999), threshold=0.95, rules=Rules())
    assert s.compliant is False and "NOx 94.9% of valid hours within the limit < 95.0%" in s.reason


def test_heating_days_of_a_year_and_of_quarters():
    """A year covers January-April of one season and the October-December start of the next."""
    assert period_days(HARBIN, Period(2021, 4)) == [(date(2021, 1, 1), date(2021, 4, 20)),
                                                    (date(2021, 10, 20), date(2021, 12, 31))]
    assert period_days(HARBIN, Period(2021, 1)) == [(date(2021, 1, 1), date(2021, 3, 31))]
    assert period_days(HARBIN, Period(2021, 2)) == [(date(2021, 4, 1), date(2021, 4, 20))]
    # Q3 has no heating day: the heating days of the year so far
    assert period_days(HARBIN, Period(2021, 3)) == [(date(2021, 1, 1), date(2021, 4, 20))]
    # cut at now: in mid-November 2021 the year's second window ends at the last full hour
    now = datetime(2021, 11, 15, 3, 30, tzinfo=CHINA_TZ)
    w = clipped_windows(period_days(HARBIN, Period(2021, 4)), now)
    assert w[1] == (datetime(2021, 10, 20, tzinfo=CHINA_TZ), datetime(2021, 11, 15, 3, tzinfo=CHINA_TZ))
    assert (w[0][1] - w[0][0]) == timedelta(days=110)  # 1 Jan .. 20 Apr inclusive


def test_windows_from_the_city_climate_file(settings):
    got = period_windows([Period(2021, 4)], settings=settings, now=datetime(2026, 1, 1, tzinfo=CHINA_TZ))
    assert got[Period(2021, 4)] == [(date(2021, 1, 1), date(2021, 4, 20)), (date(2021, 10, 20), date(2021, 12, 31))]


def test_in_service_days_over_windows():
    w = [(date(2021, 1, 1), date(2021, 4, 20)), (date(2021, 10, 20), date(2021, 12, 31))]
    assert in_service_days(facts("gas_boiler", "gas"), w) == 110 + 73
    # commissioned 2021-11-01: 61 days of the second window
    assert in_service_days(facts("gas_boiler", "gas", commissioned=date(2021, 11, 1)), w) == 61
    gone = SourceFacts(kind="coal_boiler", fuel="coal", current_fuel="coal",
                       events=(("demolished", date(2021, 3, 1)),))
    assert in_service_days(gone, w) == 59  # 1 Jan .. 28 Feb
