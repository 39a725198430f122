"""Compliance statistics over a period (a month, the heating days of a year) from evaluated hours. Pure.

Basis (DOMAIN.md §2.5, §6.3; docs/evidence.md): the hourly converted means of the limited pollutants; only valid
hours count. Each pollutant is judged on its own: its share within the limit = its valid hours at or below the
limit / its valid hours with a limit. A period is compliant when **every** limited pollutant's share reaches the
threshold (pollutants are never pooled: NOx over the limit in 14 % of its hours fails even when PM and SO2 are
clean) and the data capture reaches ``min_valid_hour_share`` (less is too little evidence).

Data capture of one monitoring point: the lowest, over the pollutants with a limit, of valid hours / that
pollutant's ``hours_in_period`` — the hours the source was in service when the caller says so (the ledger link),
otherwise all hours of the period. A summary combined from several points (a source with several stacks) has
``parts``; its capture is the lowest of the points' captures, so every point must reach it (one well-monitored
stack does not make up for an unmonitored one).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

from cleanheat.climate import HeatingSeason
from cleanheat.emissions.hj212.codec import CHINA_TZ
from cleanheat.emissions.processing import POLLUTANTS, Rules

#: display names of the pollutant codes (HJ 212 Table B.2) — reports name pollutants, not codes
POLLUTANT_NAMES = {"a34013": ("颗粒物", "PM"), "a21026": ("二氧化硫", "SO2"), "a21002": ("氮氧化物", "NOx"),
                   "a20057": ("汞", "Hg")}


def pollutant_name(code: str, lang: str = "en") -> str:
    zh, en = POLLUTANT_NAMES.get(code, (code, code))
    return zh if lang == "zh" else en


def fmt_share(share: float | None, digits: int = 1) -> str:
    """A share as a percentage truncated (not rounded) to ``digits`` decimals, so a share below a threshold of at
    most ``digits`` decimals never prints as the threshold ("95.0 % < 95 %" cannot appear): 0.94996 -> "94.9%"."""
    if share is None:
        return "–"
    from decimal import ROUND_FLOOR, Decimal

    pct = (Decimal(repr(float(share))) * 100).quantize(Decimal(1).scaleb(-digits), rounding=ROUND_FLOOR)
    return f"{pct}%"


@dataclass(frozen=True)
class HourRecord:
    ts: datetime
    pollutant: str
    valid: bool
    exceeded: bool
    conc_zs_mg_m3: float | None
    limit_mg_m3: float | None


@dataclass(frozen=True)
class PollutantStats:
    pollutant: str
    hours_in_period: int
    hours_with_data: int
    valid_hours: int
    within_hours: int  # valid hours with a limit and at or below it
    exceeded_hours: int
    judged_hours: int  # valid hours with a limit
    max_zs_mg_m3: float | None
    mean_zs_mg_m3: float | None
    limit_mg_m3: float | None

    @property
    def capture(self) -> float | None:
        return self.valid_hours / self.hours_in_period if self.hours_in_period else None

    @property
    def share_within(self) -> float | None:
        return self.within_hours / self.judged_hours if self.judged_hours else None


@dataclass(frozen=True)
class ComplianceSummary:
    start: datetime
    end: datetime
    pollutants: dict[str, PollutantStats]
    threshold: float
    min_capture: float
    exceedance_events: int = 0
    notes: tuple[str, ...] = field(default=())
    #: the monitoring point (MN) this summary is of, for messages
    label: str = ""
    #: the per-point summaries a combined summary was made of (each must reach the capture)
    parts: tuple[ComplianceSummary, ...] = field(default=())
    #: the [start, end) windows the hours were taken from (empty: the one window [start, end))
    windows: tuple[tuple[datetime, datetime], ...] = field(default=())

    @property
    def limited(self) -> list[PollutantStats]:
        """The pollutants with a limit and judged hours (the ones compliance is decided on)."""
        return [p for p in self.pollutants.values() if p.limit_mg_m3 is not None and p.judged_hours]

    @property
    def failing(self) -> list[PollutantStats]:
        """The limited pollutants whose share within the limit is below the threshold."""
        return [p for p in self.limited if (p.share_within or 0.0) < self.threshold]

    @property
    def hours_in_period(self) -> int:
        """The hours the capture is measured against: the limited pollutants' (in-service) hours, else the
        window's."""
        hours = [p.hours_in_period for p in self.pollutants.values() if p.limit_mg_m3 is not None]
        return max(hours) if hours else int((self.end - self.start).total_seconds() // 3600)

    @property
    def judged(self) -> int:
        return sum(p.judged_hours for p in self.pollutants.values())

    @property
    def within(self) -> int:
        return sum(p.within_hours for p in self.pollutants.values())

    @property
    def share_within(self) -> float | None:
        """The lowest share within the limit over the limited pollutants (never a pooled share)."""
        shares = [p.share_within for p in self.limited if p.share_within is not None]
        return min(shares) if shares else None

    @property
    def valid_hours(self) -> int:
        """Hours in which every judged pollutant had a valid value (the weakest pollutant's count)."""
        judged = [p.valid_hours for p in self.pollutants.values() if p.limit_mg_m3 is not None]
        return min(judged) if judged else 0

    @property
    def capture(self) -> float | None:
        """Valid hours / hours in period of the weakest limited pollutant (of the weakest point when combined);
        None without a limited pollutant (a combined summary counts such a point as 0)."""
        if self.parts:
            return min(p.capture or 0.0 for p in self.parts)
        caps = [p.capture for p in self.pollutants.values() if p.limit_mg_m3 is not None]
        caps = [c for c in caps if c is not None]
        return min(caps) if caps else None

    @property
    def short_parts(self) -> list[ComplianceSummary]:
        """The points of a combined summary whose capture is below the minimum."""
        return [p for p in self.parts if (p.capture or 0.0) < self.min_capture]

    @property
    def compliant(self) -> bool | None:
        """None: no judged hours (no evidence); else every limited pollutant's share ≥ threshold and enough
        capture."""
        if not self.limited:
            return None
        return not self.failing and (self.capture or 0.0) >= self.min_capture

    @property
    def reason(self) -> str:
        """Why the period is not compliant (English; ``reason_zh`` in Chinese); empty when it is."""
        return self._reason("en")

    @property
    def reason_zh(self) -> str:
        return self._reason("zh")

    def _reason(self, lang: str) -> str:
        share = self.share_within
        zh = lang == "zh"
        if share is None:
            return "期内无有效的限值小时数据" if zh else "no valid hourly data with a limit in the period"
        parts = []
        thr = fmt_share(self.threshold)
        for p in self.failing:
            name, share_txt = pollutant_name(p.pollutant, lang), fmt_share(p.share_within)
            parts.append(f"{name} 有效小时达标率 {share_txt} < {thr}（超过 {p.limit_mg_m3:g} mg/m³ 共 "
                         f"{p.exceeded_hours} 小时，有效 {p.judged_hours} 小时）" if zh else
                         f"{name} {share_txt} of valid hours within the limit < {thr} ({p.exceeded_hours} of "
                         f"{p.judged_hours} h over {p.limit_mg_m3:g} mg/m³)")
        if (self.capture or 0.0) < self.min_capture:
            short = self.short_parts
            where = ""
            if short:
                where = "（" + "，".join(f"{p.label or '?'} {fmt_share(p.capture or 0)}" for p in short) + "）" \
                    if zh else " (" + ", ".join(f"{p.label or '?'} {fmt_share(p.capture or 0)}" for p in short) + ")"
            parts.append(f"数据有效率 {fmt_share(self.capture or 0)} < {fmt_share(self.min_capture)}{where}" if zh
                         else f"data capture {fmt_share(self.capture or 0)} < {fmt_share(self.min_capture)}{where}")
        return ("；" if zh else "; ").join(parts)


def window_hours(windows: Iterable[tuple[datetime, datetime]]) -> int:
    """Whole hours in a set of disjoint [start, end) windows."""
    return sum(max(0, int((hi - lo).total_seconds() // 3600)) for lo, hi in windows)


def summarise(records: Iterable[HourRecord], start: datetime, end: datetime, *, threshold: float,
              rules: Rules | None = None, pollutants: Iterable[str] = POLLUTANTS, exceedance_events: int = 0,
              hours_in_period: int | None = None,
              windows: tuple[tuple[datetime, datetime], ...] = ()) -> ComplianceSummary:
    """Statistics of the hours in ``[start, end)`` (or in the disjoint ``windows``) per pollutant.
    ``hours_in_period`` overrides the hour count the capture is measured against (e.g. only the hours the source
    was in service)."""
    rules = rules or Rules()
    windows = windows or ((start, end),)
    n_hours = hours_in_period if hours_in_period is not None else window_hours(windows)
    acc: dict[str, dict] = {p: {"data": 0, "valid": 0, "within": 0, "exc": 0, "judged": 0, "zs": [], "limit": None}
                            for p in pollutants}
    for r in records:
        if not any(lo <= r.ts < hi for lo, hi in windows) or r.pollutant not in acc:
            continue
        a = acc[r.pollutant]
        a["data"] += 1
        if r.limit_mg_m3 is not None:
            a["limit"] = r.limit_mg_m3
        if not r.valid:
            continue
        a["valid"] += 1
        if r.conc_zs_mg_m3 is not None:
            a["zs"].append(r.conc_zs_mg_m3)
        if r.limit_mg_m3 is not None and r.conc_zs_mg_m3 is not None:
            a["judged"] += 1
            if r.exceeded:
                a["exc"] += 1
            else:
                a["within"] += 1
    stats = {}
    for p, a in acc.items():
        zs = a["zs"]
        stats[p] = PollutantStats(p, n_hours, a["data"], a["valid"], a["within"], a["exc"], a["judged"],
                                  max(zs) if zs else None, sum(zs) / len(zs) if zs else None, a["limit"])
    # pollutants the point never reported do not count against it
    stats = {p: s for p, s in stats.items() if s.hours_with_data}
    return ComplianceSummary(start, end, stats, threshold, rules.min_valid_hour_share, exceedance_events,
                             windows=tuple(windows))


# --- periods ------------------------------------------------------------------------------------------------

def month_bounds(year: int, month: int) -> tuple[datetime, datetime]:
    """The month [start, end) in Beijing time, as aware datetimes."""
    start = datetime(year, month, 1, tzinfo=CHINA_TZ)
    end = datetime(year + (month == 12), month % 12 + 1, 1, tzinfo=CHINA_TZ)
    return start, end


#: The heating season (one type for every area: :class:`cleanheat.climate.HeatingSeason`; the name is kept for
#: the callers of this module).
SeasonDates = HeatingSeason


def day_bounds(first: date, last_inclusive: date) -> tuple[datetime, datetime]:
    """[first 00:00, the day after last 00:00) in Beijing time."""
    return (datetime.combine(first, time(0), CHINA_TZ),
            datetime.combine(last_inclusive + timedelta(days=1), time(0), CHINA_TZ))
