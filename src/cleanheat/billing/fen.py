"""The settlement rules over arrays, exactly, in integer fen (分): the set-based path of a billing run.

The same amounts as :mod:`cleanheat.billing.settlement` (``Decimal``, rounded once, half up, to the fen) for a
whole company at once: each amount is an exact rational ``num / den`` in integers, rounded half up once
(``(2·num + den) // (2·den)``). Inputs are integers: area in 1/100 m² (``area_c``, the ``Numeric(12, 2)``
column ×100), heat in Wh (the ``Numeric(16, 3)`` kWh register ×1000), prices in 1/10,000 元 (:func:`price_units`),
connected days and season days. Arrays are ``int64`` when every intermediate value fits (checked from the inputs'
maxima, :func:`int_dtype`), else Python integers (``object``): exact either way. ``tests/billing/test_fen.py``
checks them against ``settlement.py`` on random inputs. Pure: numpy only.

Per unit: area fee [fen] = area_c/100 [m²] × area_u/10⁴ [元/m²] × days/n × 100 = area_c·area_u·days / (10⁴·n);
metered fee [fen] = area_c·base_u·days / (10⁴·n) + Wh·36·metered_u / 10⁹ (1 kWh = 0.0036 GJ), both over the
common denominator 10⁹·n.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

import numpy as np

PRICE_SCALE = 10_000  # prices in 1/10,000 元
_AREA_DEN = 10_000  # area_c·price_u / 10⁴ = fen
_HEAT_DEN = 10**9  # Wh·36·price_u / 10⁹ = fen
_INT64_SAFE = 2**62


def price_units(yuan: Decimal) -> int:
    """A price [元] in 1/10,000 元 (exact; ValueError for a price with more than four decimals)."""
    u = Decimal(yuan) * PRICE_SCALE
    if u != u.to_integral_value():
        raise ValueError(f"price {yuan} has more than four decimals")
    return int(u)


def int_dtype(*bounds: int) -> type:
    """``np.int64`` when every bound (the largest intermediate value) is safely inside it, else ``object``."""
    return np.int64 if max(bounds, default=0) < _INT64_SAFE else object


def round_half_up(num: np.ndarray, den: int | np.ndarray) -> np.ndarray:
    """``num / den`` rounded half up (away from zero for a tie, like ``ROUND_HALF_UP``) for num >= 0, den > 0."""
    return (2 * num + den) // (2 * den)


@dataclass(frozen=True)
class Prices:
    """One tariff's prices in 1/10,000 元: area [元/m²], base [元/m²], metered [元/GJ]."""

    area_u: int
    base_u: int
    metered_u: int

    @classmethod
    def of(cls, tariff) -> Prices:
        """From a :class:`cleanheat.billing.tariffs.Tariff`."""
        return cls(price_units(tariff.area_yuan_m2.value), price_units(tariff.base_yuan_m2.value),
                   price_units(tariff.metered_yuan_gj.value))


def _arr(x, dtype) -> np.ndarray:
    a = np.asarray(x)
    return a.astype(dtype) if a.dtype != dtype else a


def area_fee_fen(area_c: np.ndarray, days: np.ndarray, n: int, prices: Prices) -> np.ndarray:
    """The area fee [fen] of ``days`` of an ``n``-day season (``settlement.prepayment``'s amount)."""
    dt = int_dtype(int(np.max(area_c, initial=0)) * prices.area_u * max(int(np.max(days, initial=0)), 1) * 2 +
                   _AREA_DEN * n)
    return round_half_up(_arr(area_c, dt) * prices.area_u * _arr(days, dt), _AREA_DEN * n)


@dataclass(frozen=True)
class MeteredFen:
    """Season-end amounts of metered accounts [fen]: area fee, base part, metered (two-part) fee, the charge
    (capped at the area fee), the refund (prepaid − charge), and whether the cap applied."""

    area_fen: np.ndarray
    base_fen: np.ndarray
    metered_fen: np.ndarray
    charge_fen: np.ndarray
    refund_fen: np.ndarray
    capped: np.ndarray


def settle_metered_fen(area_c: np.ndarray, heat_wh: np.ndarray, days: np.ndarray, n: int, prices: Prices, *,
                       cap: bool, refund: bool, prepaid_fen: np.ndarray | None = None) -> MeteredFen:
    """``settlement.settle_metered`` over arrays: ``heat_wh`` [Wh] metered over ``days`` of an ``n``-day season,
    ``cap`` / ``refund`` the rules ``metered_cap_at_area_fee`` / ``metered_refund_below_area_fee``;
    ``prepaid_fen`` defaults to the area fee of the same days."""
    amax = int(np.max(area_c, initial=0))
    dmax = max(int(np.max(days, initial=0)), 1)
    hmax = int(np.max(heat_wh, initial=0))
    den = _HEAT_DEN * n
    scale = _HEAT_DEN // _AREA_DEN
    bound = (amax * max(prices.area_u, prices.base_u) * dmax * scale + hmax * 36 * prices.metered_u * n) * 2 + den
    dt = int_dtype(bound)
    a, d, h = _arr(area_c, dt), _arr(days, dt), _arr(heat_wh, dt)
    num_area = a * prices.area_u * d * scale
    num_base = a * prices.base_u * d * scale
    num_metered = num_base + h * (36 * prices.metered_u * n)
    area_fen, base_fen, metered_fen = (round_half_up(x, den) for x in (num_area, num_base, num_metered))
    capped = (num_metered > num_area) if cap else np.zeros(len(a), dtype=bool)
    charge = np.where(capped, area_fen, metered_fen)
    prepaid = area_fen if prepaid_fen is None else _arr(prepaid_fen, dt)
    if not refund:
        charge = np.where(charge < prepaid, prepaid, charge)
    return MeteredFen(area_fen, base_fen, metered_fen, charge, prepaid - charge, np.asarray(capped, dtype=bool))


def share_fen(fee_fen: np.ndarray, share: Decimal) -> np.ndarray:
    """``fee_fen`` × ``share`` (a Decimal like 0.30) rounded half up to the fen (``settlement.stop_heating``)."""
    num, den = Decimal(share).as_integer_ratio()
    dt = int_dtype(int(np.max(fee_fen, initial=0)) * num * 2 + den)
    return round_half_up(_arr(fee_fen, dt) * num, den)


def fen_to_yuan(fen: int) -> Decimal:
    """An integer amount [fen] as ``Decimal`` 元 with two decimals."""
    return Decimal(int(fen)).scaleb(-2)


def yuan_to_fen(yuan: Decimal) -> int:
    """A ``Decimal`` amount [元] already rounded to the fen, as integer fen (ValueError if it is not)."""
    f = Decimal(yuan) * 100
    if f != f.to_integral_value():
        raise ValueError(f"{yuan} is not rounded to the fen")
    return int(f)
