"""Settlement rules of Harbin's heat billing, pure and in ``Decimal`` yuan (元).

Each function computes its amounts unrounded and rounds once, at the end, to the fen (0.01 元, half up) with
:func:`to_fen`; a difference of two rounded amounts (a refund) needs no rounding. The rule values come from
:class:`cleanheat.billing.tariffs.BillingRules` (``data/<city>/billing_rules.yaml``) and the season's dates from
``climate.yaml``; nothing here is a constant of the rules. Results name the rules that are background knowledge
only (confidence K) in ``uncertain``, to be shown on the bill.

* :func:`prepayment` — the area fee [元] = area [m²] × area tariff [元/m²], pro-rated by connected days.
* :func:`settle_metered` — season end for a metered customer: metered fee = base [元/m²] × area + metered
  [元/GJ] × heat [GJ] (base pro-rated like the area fee); above the area fee → the area fee is charged (cap);
  below → the difference is refunded.
* :func:`stop_heating` — 报停: accepted inside the application window and outside the refusal cases, at the
  share (30 %) of the full fee; refused → the full fee.
* :func:`shortfall_refund` — rooms below 18 °C not fixed within 48 h of the report: a day's fee (full fee /
  season days) per day of shortfall.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

from cleanheat.billing.tariffs import REFUSAL_CASES, BillingRules, Tariff
from cleanheat.timeutil import CHINA_TZ

FEN = Decimal("0.01")


def to_fen(yuan: Decimal) -> Decimal:
    """``yuan`` [元] rounded half up to the fen (the one rounding step of every amount)."""
    return yuan.quantize(FEN, rounding=ROUND_HALF_UP)


def season_days(first: date, last: date) -> int:
    """Heated days of a season, both end days included [d]."""
    return (last - first).days + 1


def connected_days(first: date, last: date, connected_from: date | None, connected_to: date | None) -> int:
    """Days of the season [first, last] the customer is connected (both ends included; None: the season's end)."""
    lo = max(first, connected_from or first)
    hi = min(last, connected_to or last)
    return max((hi - lo).days + 1, 0)


def connected_fraction(first: date, last: date, connected_from: date | None, connected_to: date | None,
                       rules: BillingRules) -> tuple[int, int]:
    """Share of the season's fee owed for a part-season connection as (numerator, denominator): (connected
    days, season days) when ``prorate_by_days``, else (1, 1) for any connected day and (0, 1) for none."""
    days = connected_days(first, last, connected_from, connected_to)
    if not rules.prorate_by_days:
        return (1, 1) if days else (0, 1)
    return days, season_days(first, last)


def connected_share(first: date, last: date, connected_from: date | None, connected_to: date | None,
                    rules: BillingRules) -> Decimal:
    """:func:`connected_fraction` as a ``Decimal`` [0..1] (for display; amounts use the fraction exactly)."""
    num, den = connected_fraction(first, last, connected_from, connected_to, rules)
    return Decimal(num) / Decimal(den)


def area_fee_yuan(area_m2: Decimal, tariff: Tariff, share: tuple[int, int] = (1, 1)) -> Decimal:
    """Area fee [元, unrounded] of ``area_m2`` [m² of the tariff's area basis] for ``share`` = (days, season
    days) of the season. One division, last: the value is exact whenever it is a tie at the half fen, so that
    rounding it once gives the exact rational's half-up rounding (``fen.py`` computes the same in integers)."""
    return Decimal(area_m2) * tariff.area_yuan_m2.value * share[0] / share[1]


def metered_fee_yuan(area_m2: Decimal, heat_gj: Decimal, tariff: Tariff, share: tuple[int, int] = (1, 1)
                     ) -> Decimal:
    """Two-part fee [元, unrounded]: base [元/m²] × area [m²] × ``share`` + metered [元/GJ] × ``heat_gj`` [GJ],
    over one division (see :func:`area_fee_yuan`)."""
    return (Decimal(area_m2) * tariff.base_yuan_m2.value * share[0]
            + Decimal(heat_gj) * tariff.metered_yuan_gj.value * share[1]) / share[1]


def _uncertain(tariff: Tariff, rules: BillingRules, *names: str) -> tuple[str, ...]:
    out = [f"{tariff.id}.{k}" for k in ("area_yuan_m2", "base_yuan_m2", "metered_yuan_gj")
           if getattr(tariff, k).confidence == "K"]
    return tuple(out + rules.uncertain(*names))


@dataclass(frozen=True)
class Prepayment:
    """The prepaid area fee [元, to the fen] for the connected days of the season."""

    amount_yuan: Decimal
    days: int
    season_days: int
    uncertain: tuple[str, ...]


def prepayment(area_m2: Decimal, tariff: Tariff, rules: BillingRules, season: tuple[date, date], *,
               connected_from: date | None = None, connected_to: date | None = None) -> Prepayment:
    """The area fee [元] a customer prepays for the season (``season`` = first and last heated day)."""
    share = connected_fraction(*season, connected_from, connected_to, rules)
    return Prepayment(to_fen(area_fee_yuan(area_m2, tariff, share)),
                      connected_days(*season, connected_from, connected_to), season_days(*season),
                      _uncertain(tariff, rules, "prorate_by_days"))


@dataclass(frozen=True)
class MeteredSettlement:
    """Season-end settlement of a metered customer [元, to the fen]: ``charge_yuan`` is what the season costs,
    ``refund_yuan`` = prepaid − charge (negative: still due)."""

    prepaid_yuan: Decimal
    area_fee_yuan: Decimal
    metered_fee_yuan: Decimal
    charge_yuan: Decimal
    refund_yuan: Decimal
    capped: bool
    uncertain: tuple[str, ...]


def settle_metered(area_m2: Decimal, heat_gj: Decimal, tariff: Tariff, rules: BillingRules,
                   season: tuple[date, date], *, connected_from: date | None = None,
                   connected_to: date | None = None, prepaid_yuan: Decimal | None = None) -> MeteredSettlement:
    """Settle a metered customer: ``heat_gj`` [GJ] metered over the connected days, ``area_m2`` [m²];
    ``prepaid_yuan`` defaults to the prepayment of the same days."""
    share = connected_fraction(*season, connected_from, connected_to, rules)
    area = area_fee_yuan(area_m2, tariff, share)
    metered = metered_fee_yuan(area_m2, heat_gj, tariff, share)
    capped = rules.metered_cap_at_area_fee and metered > area
    charge = to_fen(area if capped else metered)
    prepaid = to_fen(area) if prepaid_yuan is None else Decimal(prepaid_yuan)
    if not rules.metered_refund_below_area_fee and charge < prepaid:
        charge = prepaid  # no refund: the prepayment stands
    return MeteredSettlement(prepaid, to_fen(area), to_fen(metered), charge, prepaid - charge, capped,
                             _uncertain(tariff, rules, "metered_cap_at_area_fee", "metered_refund_below_area_fee",
                                        "prorate_by_days"))


# --- 报停 stop-heating --------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Dwelling:
    """What decides a stop-heating application: the dwelling's piping, valve, warranty and position."""

    individually_piped: bool = True
    valve_inside_dwelling: bool = False
    in_warranty: bool = False
    first_floor: bool = False
    top_floor: bool = False
    end_wall: bool = False
    harms_neighbours: bool = False

    def cases(self) -> set[str]:
        """The refusal cases (:data:`cleanheat.billing.tariffs.REFUSAL_CASES`) this dwelling is in."""
        found = {k for k in ("valve_inside_dwelling", "in_warranty", "first_floor", "top_floor", "end_wall",
                             "harms_neighbours") if getattr(self, k)}
        return found | ({"not_individually_piped"} if not self.individually_piped else set())


@dataclass(frozen=True)
class StopHeatingDecision:
    """Accepted or refused, why (codes and Chinese / English texts), and the season's fee [元, to the fen]."""

    accepted: bool
    reasons: tuple[str, ...]
    messages: tuple[str, ...]
    fee_yuan: Decimal
    window: tuple[date, date]
    uncertain: tuple[str, ...]


def application_window(season_first: date, rules: BillingRules) -> tuple[date, date]:
    """First and last day [local dates] to apply to stop heating for the season starting ``season_first``."""
    opens = date(season_first.year, *rules.stop_heating_window_opens)
    closes = date(season_first.year, *rules.stop_heating_window_closes)
    if closes >= season_first:  # a window in the calendar year before the season
        opens, closes = opens.replace(year=opens.year - 1), closes.replace(year=closes.year - 1)
    if opens > closes:
        opens = opens.replace(year=opens.year - 1)
    return opens, closes


def stop_heating(applied_on: date, season_first: date, full_fee_yuan: Decimal, dwelling: Dwelling,
                 rules: BillingRules) -> StopHeatingDecision:
    """Decide a 报停 application made on ``applied_on`` for the season starting ``season_first``: accepted, the
    fee is ``stop_heating_fee_share`` × ``full_fee_yuan`` [元] (the season's full area fee); refused, the full fee."""
    window = application_window(season_first, rules)
    reasons = [c for c in rules.stop_heating_refused_for if c in dwelling.cases()]
    messages = [f"{REFUSAL_CASES[c][0]}，不予报停 / refused: {REFUSAL_CASES[c][1]}" for c in reasons]
    if not window[0] <= applied_on <= window[1]:
        reasons.insert(0, "outside_window")
        messages.insert(0, f"申请日 {applied_on} 不在受理期 {window[0]} 至 {window[1]} 内 / applied on {applied_on}, "
                           f"outside the window {window[0]} .. {window[1]}")
    accepted = not reasons
    fee = Decimal(full_fee_yuan) * (rules.stop_heating_fee_share if accepted else Decimal(1))
    return StopHeatingDecision(accepted, tuple(reasons), tuple(messages), to_fen(fee), window,
                               tuple(rules.uncertain("stop_heating_fee_share", "stop_heating_window_opens",
                                                     "stop_heating_window_closes", "stop_heating_refused_for")))


# --- room-temperature shortfall refunds ---------------------------------------------------------------------

@dataclass(frozen=True)
class ShortfallEpisode:
    """A reported room-temperature shortfall: reported and fixed (None: not fixed) [aware], the room's
    temperature [°C] (the evidence: a ticket and the resident's room readings)."""

    reported_at: datetime
    fixed_at: datetime | None
    room_temp_c: Decimal


@dataclass(frozen=True)
class ShortfallRefund:
    """Refunded days [d] and amount [元, to the fen], and the episodes that counted."""

    days: int
    refund_yuan: Decimal
    counted: tuple[ShortfallEpisode, ...]
    uncertain: tuple[str, ...]


def _refund_spans(episodes: Sequence[ShortfallEpisode], season_end_at: datetime, rules: BillingRules
                  ) -> tuple[list[tuple[datetime, datetime]], list[ShortfallEpisode]]:
    """The refunded spans (merged, in order) and the episodes that counted."""
    limit = timedelta(hours=rules.shortfall_fix_within_h)
    spans, counted = [], []
    for ep in sorted(episodes, key=lambda e: e.reported_at):
        end = min(ep.fixed_at or season_end_at, season_end_at)
        if Decimal(ep.room_temp_c) >= rules.shortfall_min_room_temp_c or end - ep.reported_at <= limit:
            continue
        counted.append(ep)
        start = ep.reported_at + (limit if rules.shortfall_refund_from == "deadline" else timedelta(0))
        if spans and start <= spans[-1][1]:
            spans[-1] = (spans[-1][0], max(spans[-1][1], end))
        else:
            spans.append((start, end))
    return spans, counted


def shortfall_refund(episodes: Sequence[ShortfallEpisode], full_fee_yuan: Decimal, season: tuple[date, date],
                     rules: BillingRules) -> ShortfallRefund:
    """Refund for shortfalls below ``shortfall_min_room_temp_c`` not fixed within ``shortfall_fix_within_h``:
    a day's fee (``full_fee_yuan`` [元] / season days) per day [d] of shortfall (overlapping episodes count once;
    days per span rounded by ``shortfall_refund_days_rounding``; at most the season's days)."""
    n_days = season_days(*season)
    season_end_at = datetime.combine(season[1] + timedelta(days=1), datetime.min.time(), CHINA_TZ)
    spans, counted = _refund_spans(episodes, season_end_at, rules)
    rnd = math.ceil if rules.shortfall_refund_days_rounding == "ceiling" else math.floor
    days = min(sum(rnd((b - a).total_seconds() / 86_400) for a, b in spans), n_days)
    refund = Decimal(full_fee_yuan) * Decimal(days) / Decimal(n_days)
    return ShortfallRefund(days, to_fen(refund), tuple(counted),
                           tuple(rules.uncertain("shortfall_min_room_temp_c", "shortfall_fix_within_h",
                                                 "shortfall_refund_from", "shortfall_refund_days_rounding")))
