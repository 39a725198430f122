"""The integer-fen array path (billing/fen.py) gives exactly settlement.py's Decimal amounts (rounded once)."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta
from decimal import Decimal as D

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from cleanheat.billing import fen, settlement
from cleanheat.billing.tariffs import Rated, Tariff
from tests.billing.test_settlement import RULES, SEASON

N = settlement.season_days(*SEASON)


def _tariff(area: D, base: D, metered: D) -> Tariff:
    return Tariff("t", "ordinary_dwelling", "usable", date(2011, 1, 1), None, Rated(area, "S", "s"),
                  Rated(base, "S", "s"), Rated(metered, "S", "s"), "s")


prices = st.decimals(min_value=D("0.01"), max_value=D("200"), places=2)
areas = st.decimals(min_value=D("0"), max_value=D("2000"), places=2)
heat_wh = st.integers(min_value=0, max_value=200_000_000)  # up to 200 MWh a season
days = st.integers(min_value=0, max_value=N)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(areas, heat_wh, days), min_size=1, max_size=20), prices, prices, prices,
       st.booleans(), st.booleans())
def test_arrays_equal_settlement_py(rows, area_p, base_p, metered_p, cap, refund):
    tariff = _tariff(area_p, base_p, metered_p)
    rules = replace(RULES, metered_cap_at_area_fee=cap, metered_refund_below_area_fee=refund)
    area_c = np.array([int(a * 100) for a, _, _ in rows])
    wh = np.array([h for _, h, _ in rows])
    d = np.array([x for _, _, x in rows])
    p = fen.Prices.of(tariff)
    pre = fen.area_fee_fen(area_c, d, N, p)
    got = fen.settle_metered_fen(area_c, wh, d, N, p, cap=cap, refund=refund)
    for i, (a, h, x) in enumerate(rows):
        connected = (SEASON[0], SEASON[0] + timedelta(days=x - 1)) if x else (SEASON[1] + timedelta(1), None)
        ref_pre = settlement.prepayment(a, tariff, rules, SEASON, connected_from=connected[0],
                                        connected_to=connected[1])
        ref = settlement.settle_metered(a, D(h) / 1000 * D("0.0036"), tariff, rules, SEASON,
                                        connected_from=connected[0], connected_to=connected[1])
        assert fen.fen_to_yuan(pre[i]) == ref_pre.amount_yuan
        assert fen.fen_to_yuan(got.area_fen[i]) == ref.area_fee_yuan
        assert fen.fen_to_yuan(got.metered_fen[i]) == ref.metered_fee_yuan
        assert fen.fen_to_yuan(got.charge_fen[i]) == ref.charge_yuan
        assert fen.fen_to_yuan(got.refund_fen[i]) == ref.refund_yuan
        assert bool(got.capped[i]) == ref.capped


def test_a_tie_at_the_half_fen_rounds_up_on_both_paths():
    """61 of 183 days of 100.05 m² at 41.50 元/m² is 1384.025 元 exactly, a tie: half up gives 1384.03 (settlement.py
    divides once, last, so that a tie is held exactly rather than as 1384.02499... of a rounded share)."""
    tariff = _tariff(D("41.50"), D("16.54"), D("44.41"))
    first = SEASON[0]
    ref = settlement.prepayment(D("100.05"), tariff, RULES, SEASON, connected_from=first,
                                connected_to=first + timedelta(days=60))
    assert (ref.days, ref.amount_yuan) == (61, D("1384.03"))
    assert fen.area_fee_fen(np.array([10005]), np.array([61]), N, fen.Prices.of(tariff))[0] == 138403


def test_large_values_fall_back_to_exact_python_integers():
    tariff = _tariff(D("41.50"), D("16.54"), D("44.41"))
    area_c = np.array([10**12])  # 10 billion m²: beyond int64 in the intermediate products
    got = fen.area_fee_fen(area_c, np.array([N]), N, fen.Prices.of(tariff))
    assert got.dtype == object and got[0] == 10**12 * 4150 // 100


@given(st.lists(st.integers(min_value=0, max_value=10**9), min_size=1, max_size=30),
       st.decimals(min_value=D("0"), max_value=D("1"), places=2))
def test_share_fen_equals_stop_heating(fees, share):
    got = fen.share_fen(np.array(fees), share)
    for f, g in zip(fees, got, strict=True):
        assert fen.fen_to_yuan(g) == settlement.to_fen(fen.fen_to_yuan(f) * share)
