"""Settlement rules: hand-computed Harbin cases (the arithmetic in the comments) and hypothesis properties."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cleanheat.billing.settlement import (
    Dwelling,
    ShortfallEpisode,
    prepayment,
    settle_metered,
    shortfall_refund,
    stop_heating,
    to_fen,
)
from cleanheat.billing.tariffs import read_billing_rules, read_tariffs
from cleanheat.climate import read_climate
from cleanheat.timeutil import CHINA_TZ

HARBIN = Path(__file__).resolve().parents[2] / "data" / "harbin"
SEASON = read_climate(HARBIN).season.season_starting(2020)  # 2020-10-20 .. 2021-04-20: 183 days
RULES = read_billing_rules(HARBIN, SEASON[0])
ORDINARY = read_tariffs(HARBIN).select("ordinary_dwelling", SEASON[0])
SAVING = read_tariffs(HARBIN).select("energy_saving_dwelling", SEASON[0])
D = Decimal


def local(*args) -> datetime:
    return datetime(*args, tzinfo=CHINA_TZ)


# --- hand-computed ------------------------------------------------------------------------------------------

def test_season_is_harbins() -> None:
    assert SEASON == (date(2020, 10, 20), date(2021, 4, 20))


def test_metered_below_the_area_fee_is_refunded() -> None:
    # area fee 80 x 41.5 = 3320.00; metered 80 x 19.37 + 30 x 39.14 = 1549.60 + 1174.20 = 2723.80
    s = settle_metered(D(80), D(30), ORDINARY, RULES, SEASON)
    assert (s.prepaid_yuan, s.metered_fee_yuan, s.charge_yuan, s.refund_yuan, s.capped) == (
        D("3320.00"), D("2723.80"), D("2723.80"), D("596.20"), False)
    assert "harbin-2011-ordinary.area_yuan_m2" in s.uncertain  # the unconfirmed 41.5 is flagged


def test_metered_above_the_area_fee_is_capped() -> None:
    # metered 1549.60 + 60 x 39.14 = 3898.00 > 3320.00: the area fee is charged, nothing refunded
    s = settle_metered(D(80), D(60), ORDINARY, RULES, SEASON)
    assert (s.metered_fee_yuan, s.charge_yuan, s.refund_yuan, s.capped) == (D("3898.00"), D("3320.00"), D(0), True)


def test_rounding_happens_once() -> None:
    # 65.43 m² x 16.54 = 1082.2122 + 12.345 GJ x 44.41 = 548.24145 -> 1630.45365 -> 1630.45 (once, not per part)
    s = settle_metered(D("65.43"), D("12.345"), SAVING, RULES, SEASON)
    assert s.metered_fee_yuan == D("1630.45")


def test_part_season_connection_is_pro_rated_by_days() -> None:
    # connected 2020-12-01 .. 2021-04-20: 31 + 31 + 28 + 31 + 20 = 141 of 183 days; 3320 x 141 / 183 = 2558.0328
    p = prepayment(D(80), ORDINARY, RULES, SEASON, connected_from=date(2020, 12, 1))
    assert (p.amount_yuan, p.days, p.season_days) == (D("2558.03"), 141, 183)
    assert "prorate_by_days" in p.uncertain
    # disconnected after 2020-10-31: 12 days -> 3320 x 12 / 183 = 217.7049
    assert prepayment(D(80), ORDINARY, RULES, SEASON, connected_to=date(2020, 10, 31)).amount_yuan == D("217.70")


def test_stop_heating_in_the_window_at_30_percent() -> None:
    d = stop_heating(date(2020, 9, 25), SEASON[0], D("3320.00"), Dwelling(), RULES)
    assert (d.accepted, d.fee_yuan, d.window) == (True, D("996.00"), (date(2020, 9, 20), date(2020, 9, 30)))


def test_stop_heating_refusals() -> None:
    late = stop_heating(date(2020, 10, 1), SEASON[0], D("3320.00"), Dwelling(), RULES)
    assert (late.accepted, late.reasons, late.fee_yuan) == (False, ("outside_window",), D("3320.00"))
    assert late.messages[0].startswith("申请日 2020-10-01 不在受理期")
    top = stop_heating(date(2020, 9, 21), SEASON[0], D("3320.00"), Dwelling(top_floor=True, in_warranty=True), RULES)
    assert (top.accepted, top.reasons) == (False, ("in_warranty", "top_floor"))
    shared = stop_heating(date(2020, 9, 21), SEASON[0], D(100), Dwelling(individually_piped=False), RULES)
    assert shared.reasons == ("not_individually_piped",) and "非分户供热" in shared.messages[0]


def test_shortfall_not_fixed_within_48_h_refunds_days() -> None:
    # reported 5 Jan 10:00, fixed 8 Jan 09:00: 71 h > 48 h -> 3 started days; 3320 x 3 / 183 = 54.4262
    ep = ShortfallEpisode(local(2021, 1, 5, 10), local(2021, 1, 8, 9), D("16.5"))
    r = shortfall_refund([ep], D("3320.00"), SEASON, RULES)
    assert (r.days, r.refund_yuan, r.counted) == (3, D("54.43"), (ep,))


def test_shortfall_fixed_in_time_or_warm_enough_refunds_nothing() -> None:
    quick = ShortfallEpisode(local(2021, 1, 5, 10), local(2021, 1, 7, 10), D("15"))  # exactly 48 h
    warm = ShortfallEpisode(local(2021, 2, 1, 10), None, D("18.0"))  # 18 °C is not below 18
    assert shortfall_refund([quick, warm], D("3320.00"), SEASON, RULES).refund_yuan == D(0)


def test_overlapping_and_unfixed_shortfalls() -> None:
    a = ShortfallEpisode(local(2021, 1, 5, 0), local(2021, 1, 9, 0), D(15))  # 4 days
    b = ShortfallEpisode(local(2021, 1, 7, 0), local(2021, 1, 10, 12), D(16))  # overlaps: together 5.5 -> 6 days
    open_ = ShortfallEpisode(local(2021, 4, 15, 12), None, D(14))  # to the season's end 21 Apr 00:00: 5.5 -> 6
    r = shortfall_refund([a, b, open_], D("3660.00"), SEASON, RULES)
    assert r.days == 12 and r.refund_yuan == D("240.00")  # 3660 / 183 = 20 a day


# --- properties ---------------------------------------------------------------------------------------------

areas = st.decimals(D("10"), D("500"), places=2)
heats = st.decimals(D("0"), D("200"), places=3)
season_day = st.integers(0, 182).map(lambda k: SEASON[0] + timedelta(days=k))


@settings(max_examples=200, deadline=None)
@given(areas, heats, st.sampled_from([ORDINARY, SAVING]))
def test_property_capped_charge_never_exceeds_the_area_fee_and_refund_plus_charge_is_prepayment(
        area, heat, tariff) -> None:
    s = settle_metered(area, heat, tariff, RULES, SEASON)
    assert s.charge_yuan <= s.area_fee_yuan == s.prepaid_yuan
    assert s.refund_yuan + s.charge_yuan == s.prepaid_yuan
    assert s.refund_yuan >= 0 and s.charge_yuan == s.charge_yuan.quantize(D("0.01"))


@settings(max_examples=200, deadline=None)
@given(areas, season_day, season_day)
def test_property_pro_rating_is_additive_over_splits_within_a_fen(area, a, b) -> None:
    cut, end = min(a, b), max(a, b)
    whole = prepayment(area, ORDINARY, RULES, SEASON, connected_to=end).amount_yuan
    first = prepayment(area, ORDINARY, RULES, SEASON, connected_to=cut).amount_yuan
    second = prepayment(area, ORDINARY, RULES, SEASON, connected_from=cut + timedelta(days=1),
                        connected_to=end).amount_yuan
    assert abs(first + second - whole) <= D("0.01")


@settings(max_examples=200, deadline=None)
@given(areas, heats, season_day)
def test_property_part_season_settlement_is_consistent(area, heat, start) -> None:
    s = settle_metered(area, heat, ORDINARY, RULES, SEASON, connected_from=start)
    full = settle_metered(area, heat, ORDINARY, RULES, SEASON)
    assert s.prepaid_yuan <= full.prepaid_yuan and s.refund_yuan + s.charge_yuan == s.prepaid_yuan


@settings(max_examples=200, deadline=None)
@given(st.decimals(D("0"), D("100000"), places=2), st.integers(-60, 60), st.booleans())
def test_property_stop_heating_fee(full, offset, top) -> None:
    applied = date(2020, 9, 25) + timedelta(days=offset)
    d = stop_heating(applied, SEASON[0], full, Dwelling(top_floor=top), RULES)
    assert d.accepted == (not top and date(2020, 9, 20) <= applied <= date(2020, 9, 30))
    assert d.fee_yuan == (to_fen(full * D("0.30")) if d.accepted else full)


episode = st.builds(
    lambda start_h, dur_h, temp: ShortfallEpisode(local(2020, 10, 20) + timedelta(hours=start_h),
                                                  local(2020, 10, 20) + timedelta(hours=start_h + dur_h)
                                                  if dur_h is not None else None, D(temp)),
    st.integers(0, 183 * 24 - 1), st.one_of(st.none(), st.integers(1, 2000)), st.integers(5, 22))


@settings(max_examples=200, deadline=None)
@given(st.lists(episode, max_size=6), episode, st.decimals(D("1"), D("10000"), places=2))
def test_property_shortfall_refund_bounded_and_monotone(eps, extra, full) -> None:
    r = shortfall_refund(eps, full, SEASON, RULES)
    more = shortfall_refund([*eps, extra], full, SEASON, RULES)
    assert D(0) <= r.refund_yuan <= full and 0 <= r.days <= 183
    assert more.refund_yuan >= r.refund_yuan


def test_to_fen_rounds_half_up() -> None:
    assert (to_fen(D("0.005")), to_fen(D("0.0049")), to_fen(D("2.675"))) == (D("0.01"), D("0.00"), D("2.68"))


@pytest.mark.parametrize("name", ["metered_cap_at_area_fee", "metered_refund_below_area_fee"])
def test_rules_switched_off(name) -> None:
    from dataclasses import replace

    rules = replace(RULES, **{name: False})
    s = settle_metered(D(80), D(60 if name == "metered_cap_at_area_fee" else 30), ORDINARY, rules, SEASON)
    if name == "metered_cap_at_area_fee":  # 3898.00 charged, 578.00 still due
        assert (s.charge_yuan, s.refund_yuan) == (D("3898.00"), D("-578.00"))
    else:  # no refund: the prepaid 3320.00 stands
        assert (s.charge_yuan, s.refund_yuan) == (D("3320.00"), D(0))
