"""Register validation of heat meters: the rules that find rollbacks, resets, replacements, gaps, spikes, stuck
registers and implausible readings in a meter's series, and the estimate of consumption over a gap.

Pure apart from :func:`read_validation_rules` (the dated thresholds of ``data/billing/validation.yaml``). Times
are aware datetimes in, epoch seconds inside; energy [kWh], volume [m³], flow [m³/h], temperatures [°C].

The rules, per meter, readings in time order (docs/billing.md has the full text):

* **register steps** (each interval from the last trusted reading): a drop of more than ``register_tolerance_kwh``
  is a *reset* when the register lands near zero (≤ max(``reset_near_zero_kwh``, ``reset_near_zero_share`` × the
  previous value)), a *rollback* when it keeps more than 1 − ``rollback_max_share`` of its value, else a suspected
  *replacement*. A single reading below the previous one and followed by one back at or above it is a one-reading
  rollback (or reset): it is left out and the interval bridges it. A reading above both neighbours whose successor
  falls back is a one-reading *spike*. A :class:`Replacement` record or a change of serial is a *replacement*;
  consumption across it is (old final − last read) + (first read − new initial).
* **gap**: an interval longer than ``gap_factor`` × the meter's median interval (its cadence).
* **spike**: an interval's rate [kW] above the local median + ``spike_mad_k`` × max(1.4826·MAD, ``spike_floor_kw``
  × √(1 h / interval))
  and above ``spike_min_ratio`` × the local median (window ±``spike_window_h``/2); or above what the meter can
  measure: qp × ρc × ``max_delta_t_k``.
* **stuck**: the register unchanged over at least ``stuck_min_intervals`` intervals and ``stuck_min_h`` hours while
  water flows (flow or volume register), or in the heating season while other meters consumed (at least
  ``stuck_neighbour_share`` of them; a meter alone: while it consumed in the rest of its heating seasons).
* **implausible**: a temperature outside [``temp_min_c``, ``temp_max_c``]; return above supply by
  ``return_above_supply_k`` for ``return_above_supply_min_h``; flow negative or above ``flow_max_qp_factor`` × qp;
  a volume register going back; an interval's energy and volume × ΔT × ρc apart by more than ``power_ratio_max``
  (for at least ``power_check_min_h``).

Runs of the same condition give one finding, at the first reading of the run.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from datetime import UTC, date, datetime
from functools import lru_cache
from pathlib import Path

import numpy as np
import yaml

from cleanheat.climate import HeatingSeason
from cleanheat.errors import InputError, InputIssue
from cleanheat.timeutil import CHINA_TZ

KINDS = ("rollback", "reset", "replacement", "gap", "spike", "stuck", "implausible")
CONFIDENCES = ("C", "S", "K", "D")
S_PER_H = 3600.0
#: 1.4826 × MAD estimates the standard deviation of normal data
MAD_TO_SD = 1.4826


class ValidationRulesError(InputError):
    """The validation rules file is malformed (every problem with its row and field)."""


@dataclass(frozen=True)
class Read:
    """One register reading: energy [kWh], volume [m³], flow [m³/h], supply/return [°C]; ``ts`` aware."""

    meter_id: str
    ts: datetime
    energy_kwh: float
    volume_m3: float | None = None
    flow_m3_h: float | None = None
    supply_temp_c: float | None = None
    return_temp_c: float | None = None
    serial: str | None = None


@dataclass(frozen=True)
class MeterFacts:
    """What is known of a meter: nominal flow qp [m³/h] (its size)."""

    meter_id: str
    qp_m3_h: float | None = None


@dataclass(frozen=True)
class Replacement:
    """A recorded meter exchange: the old meter's final and the new one's initial register [kWh] at ``ts``."""

    meter_id: str
    ts: datetime
    old_final_kwh: float
    new_initial_kwh: float
    old_serial: str = ""
    new_serial: str = ""


@dataclass(frozen=True)
class Finding:
    """One finding: ``kind`` in :data:`KINDS`, ``detail`` in Chinese then English."""

    meter_id: str
    ts: datetime
    kind: str
    detail: str


@dataclass(frozen=True)
class ValidationRules:
    """The thresholds of one dated rule set (see the module docstring and ``data/billing/validation.yaml``)."""

    register_tolerance_kwh: float
    reset_near_zero_kwh: float
    reset_near_zero_share: float
    rollback_max_share: float
    cadence_min_intervals: int
    gap_factor: float
    spike_window_h: float
    spike_window_min_intervals: int
    spike_mad_k: float
    spike_min_ratio: float
    spike_floor_kw: float
    max_delta_t_k: float
    water_heat_capacity_kwh_m3_k: float
    flow_max_qp_factor: float
    temp_min_c: float
    temp_max_c: float
    return_above_supply_k: float
    return_above_supply_min_h: float
    power_ratio_max: float
    power_check_min_kwh: float
    power_check_min_h: float
    stuck_min_h: float
    stuck_min_intervals: int
    stuck_flow_min_m3_h: float
    stuck_neighbour_share: float
    rule_set_id: str = ""
    source: str = ""


RULE_FIELDS = tuple(f.name for f in fields(ValidationRules) if f.name not in ("rule_set_id", "source"))


@dataclass(frozen=True)
class Series:
    """One meter's readings in time order as arrays (NaN: not read); ``ts_s`` epoch seconds."""

    meter_id: str
    ts_s: np.ndarray
    energy_kwh: np.ndarray
    volume_m3: np.ndarray
    flow_m3_h: np.ndarray
    supply_temp_c: np.ndarray
    return_temp_c: np.ndarray
    serial: tuple[str | None, ...] = ()

    def __len__(self) -> int:
        return len(self.ts_s)


@dataclass(frozen=True)
class GapEstimate:
    """Estimated consumption [kWh] between two times, with the method (shown on the bill)."""

    meter_id: str
    start: datetime
    end: datetime
    energy_kwh: float
    method: str
    estimated: bool


# --- rules as dated data ------------------------------------------------------------------------------------

def validation_rules_path(data_dir: Path) -> Path:
    """The rules file under ``data_dir`` (``Settings.data_dir``)."""
    return Path(data_dir) / "billing" / "validation.yaml"


def _rule_set(row: Mapping, i: int, path: Path, issues: list[InputIssue]) -> tuple[date, date | None, dict]:
    """(valid_from, valid_to, {field: value}) of one rule set; problems go to ``issues``."""
    def issue(fld: str, msg: str) -> None:
        issues.append(InputIssue(msg, file=str(path), row=i, field=fld))

    vf, vt = row.get("valid_from"), row.get("valid_to")
    if not isinstance(vf, date) or (vt is not None and not isinstance(vt, date)) or (vt is not None and vt <= vf):
        issue("valid_from", "valid_from / valid_to 须为日期且 valid_to 晚于 valid_from (dates, valid_to after)")
    if not row.get("source") or not row.get("id"):
        issue("source", "每套规则须有 id 与来源 (every rule set needs an id and its source)")
    values: dict = {}
    rules = row.get("rules") or {}
    for name in RULE_FIELDS:
        item = rules.get(name)
        if not isinstance(item, Mapping) or not isinstance(item.get("value"), int | float) \
                or isinstance(item.get("value"), bool) or not math.isfinite(item["value"]) or item["value"] < 0:
            issue(f"rules.{name}", "缺少或无效的数值 (missing or not a non-negative number)")
            continue
        if item.get("confidence") not in CONFIDENCES or not item.get("source"):
            issue(f"rules.{name}", "须有 confidence (C/S/K/D) 与 source (needs a confidence and a source)")
        values[name] = item["value"]
    for name in sorted(set(rules) - set(RULE_FIELDS)):
        issue(f"rules.{name}", "未知的规则 (unknown rule)")
    return vf, vt, values


@lru_cache(maxsize=8)
def _read_rule_sets(path: Path) -> tuple[tuple[date, date | None, ValidationRules], ...]:
    raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    issues: list[InputIssue] = []
    out = []
    for i, row in enumerate(raw.get("rule_sets") or [], start=1):
        vf, vt, values = _rule_set(row if isinstance(row, Mapping) else {}, i, path, issues)
        if len(values) == len(RULE_FIELDS) and isinstance(vf, date):
            ints = {n: int(values[n]) for n in ("cadence_min_intervals", "spike_window_min_intervals",
                                                 "stuck_min_intervals")}
            out.append((vf, vt, ValidationRules(**(values | ints), rule_set_id=str(row["id"]),
                                                source=str(row.get("source", "")))))
    if not out and not issues:
        issues.append(InputIssue("没有规则 (no rule sets)", file=str(path)))
    if issues:
        raise ValidationRulesError(f"校验规则文件有误 / validation rules malformed: {path}", issues)
    return tuple(out)


def read_validation_rules(data_dir: Path, on: date) -> ValidationRules:
    """The rule set of ``data_dir``/billing/validation.yaml valid on the local date ``on``."""
    path = validation_rules_path(data_dir)
    for vf, vt, rules in _read_rule_sets(path):
        if vf <= on and (vt is None or on < vt):
            return rules
    raise ValidationRulesError(f"{on} 无有效的校验规则 / no validation rule set valid on {on}",
                               [InputIssue(f"no rule set valid on {on}", file=str(path))])


# --- series -------------------------------------------------------------------------------------------------

def _opt(values: Iterable[float | None]) -> np.ndarray:
    return np.array([np.nan if v is None else float(v) for v in values], dtype=float)


def series_of(meter_id: str, reads: Sequence[Read]) -> Series:
    """One meter's readings as a :class:`Series`, sorted by time; repeated identical readings are kept once."""
    rs = sorted(reads, key=lambda r: r.ts)
    kept: list[Read] = []
    for r in rs:
        if kept and kept[-1].ts == r.ts and kept[-1] == r:
            continue
        kept.append(r)
    serials = tuple(r.serial for r in kept)
    return Series(
        meter_id=meter_id,
        ts_s=np.array([int(r.ts.timestamp()) for r in kept], dtype=np.int64),
        energy_kwh=np.array([float(r.energy_kwh) for r in kept], dtype=float),
        volume_m3=_opt(r.volume_m3 for r in kept), flow_m3_h=_opt(r.flow_m3_h for r in kept),
        supply_temp_c=_opt(r.supply_temp_c for r in kept), return_temp_c=_opt(r.return_temp_c for r in kept),
        serial=serials if any(s for s in serials) else (),
    )


def group_reads(reads: Iterable[Read]) -> dict[str, Series]:
    """{meter_id: Series} of a mixed list of readings."""
    by: dict[str, list[Read]] = {}
    for r in reads:
        by.setdefault(r.meter_id, []).append(r)
    return {m: series_of(m, rs) for m, rs in by.items()}


def utc_of(ts_s: float) -> datetime:
    """An epoch second as an aware UTC datetime."""
    return datetime.fromtimestamp(int(ts_s), UTC)


def _iso(ts_s: float) -> str:
    return utc_of(ts_s).strftime("%Y-%m-%dT%H:%M:%SZ")


def _f(x: float) -> str:
    return f"{x:,.2f}"


# --- register steps -----------------------------------------------------------------------------------------

@dataclass
class _Steps:
    """Findings of the register walk and the usable intervals: reading indices (start, end) and energy [kWh]."""

    findings: list[Finding] = field(default_factory=list)
    i0: list[int] = field(default_factory=list)
    i1: list[int] = field(default_factory=list)
    e_kwh: list[float] = field(default_factory=list)
    #: intervals (last trusted reading, reading) across a discontinuity whose consumption is not known
    breaks: list[tuple[int, int]] = field(default_factory=list)


def _drop_kind(prev_kwh: float, cur_kwh: float, rules: ValidationRules) -> str:
    """reset | rollback | replacement for a register falling from ``prev_kwh`` to ``cur_kwh`` [kWh]."""
    if cur_kwh <= max(rules.reset_near_zero_kwh, rules.reset_near_zero_share * prev_kwh):
        return "reset"
    if prev_kwh - cur_kwh <= rules.rollback_max_share * prev_kwh:
        return "rollback"
    return "replacement"


_DROP_TEXT = {
    "reset": ("寄存器归零", "register reset to near zero"),
    "rollback": ("寄存器回退", "register rolled back"),
    "replacement": ("寄存器大幅下降，疑似换表但无换表记录", "large drop: suspected meter replacement without a record"),
}


def _replacement_between(repl: Sequence[Replacement], t0_s: int, t1_s: int) -> Replacement | None:
    return next((r for r in repl if t0_s < r.ts.timestamp() <= t1_s), None)


def _recorded_replacement(s: Series, last: int, i: int, r: Replacement, rules: ValidationRules) -> tuple:
    """(finding, consumption [kWh] or NaN) across a recorded exchange between readings ``last`` and ``i``."""
    old_part = r.old_final_kwh - s.energy_kwh[last]
    new_part = s.energy_kwh[i] - r.new_initial_kwh
    tol = rules.register_tolerance_kwh
    ok = old_part >= -tol and new_part >= -tol
    e = max(old_part, 0.0) + max(new_part, 0.0) if ok else math.nan
    detail = (f"换表：旧表末读数 {_f(r.old_final_kwh)} kWh，新表初读数 {_f(r.new_initial_kwh)} kWh"
              + ("" if ok else "，与前后读数不符") + f" / meter replaced {r.old_serial or '?'} → {r.new_serial or '?'} "
              f"at {_iso(r.ts.timestamp())}: old final {_f(r.old_final_kwh)} kWh, new initial "
              f"{_f(r.new_initial_kwh)} kWh" + ("" if ok else " (inconsistent with the reads around it)"))
    return Finding(s.meter_id, utc_of(s.ts_s[i]), "replacement", detail), e


def _step(s: Series, last: int, i: int, rules: ValidationRules, repl: Sequence[Replacement], typical_kwh: float
          ) -> tuple[Finding | None, float, bool]:
    """The interval from trusted reading ``last`` to reading ``i``: (finding or None, consumption [kWh] or NaN,
    whether reading ``i`` is left out as a one-reading outlier). ``typical_kwh``: the meter's median rise per
    interval; a reading above both neighbours is an outlier only when its rise is ``spike_min_ratio`` times that
    and ``spike_mad_k`` × ``spike_floor_kw`` above it (else the next reading is the one that fell back)."""
    e, t, tol = s.energy_kwh, s.ts_s, rules.register_tolerance_kwh
    if t[i] == t[last]:  # a second read at the same time: left out (a finding when it disagrees)
        if abs(e[i] - e[last]) <= tol:
            return None, math.nan, True
        return Finding(s.meter_id, utc_of(t[i]), "implausible",
                       f"同一时间两个不同读数：{_f(e[last])} 与 {_f(e[i])} kWh，后者未用 / two different reads at the "
                       f"same time: {_f(e[last])} and {_f(e[i])} kWh; the second is left out"), math.nan, True
    r = _replacement_between(repl, int(t[last]), int(t[i]))
    if r is not None:
        finding, used = _recorded_replacement(s, last, i, r, rules)
        return finding, used, False
    if s.serial and s.serial[i] and s.serial[last] and s.serial[i] != s.serial[last]:
        return Finding(s.meter_id, utc_of(t[i]), "replacement",
                       f"表号由 {s.serial[last]} 变为 {s.serial[i]}，无换表记录 / serial changed "
                       f"{s.serial[last]} → {s.serial[i]} without a replacement record"), math.nan, False
    d = e[i] - e[last]
    back = i + 1 < len(e) and e[i + 1] >= e[last] - tol
    if d < -tol:
        kind = _drop_kind(e[last], e[i], rules)
        kind = "rollback" if back and kind == "replacement" else kind
        zh, en = _DROP_TEXT[kind]
        one = "（单个读数，下一读数恢复）" if back else ""
        detail = (f"{zh}{one}：{_f(e[last])} → {_f(e[i])} kWh / {en}{' (one reading)' if back else ''}: "
                  f"{_f(e[last])} → {_f(e[i])} kWh ({_f(d)} kWh)")
        return Finding(s.meter_id, utc_of(t[i]), kind, detail), math.nan, back
    dt_h = (t[i] - t[last]) / S_PER_H
    high = d > rules.spike_min_ratio * typical_kwh and d - typical_kwh > rules.spike_mad_k * rules.spike_floor_kw * dt_h
    if back and e[i + 1] < e[i] - tol and high:
        return Finding(s.meter_id, utc_of(t[i]), "spike",
                       f"单个读数高于前后读数：{_f(e[last])} → {_f(e[i])} → {_f(e[i + 1])} kWh / one reading above "
                       f"both neighbours: {_f(e[last])} → {_f(e[i])} → {_f(e[i + 1])} kWh"), math.nan, True
    return None, max(d, 0.0), False


def register_steps(s: Series, rules: ValidationRules, repl: Sequence[Replacement] = ()) -> _Steps:
    """Walk the register: discontinuity findings and the usable intervals (from the last trusted reading)."""
    out = _Steps()
    rises = np.diff(s.energy_kwh)
    rises = rises[rises > rules.register_tolerance_kwh]
    typical_kwh = float(np.median(rises)) if len(rises) else 0.0
    last = 0
    for i in range(1, len(s)):
        finding, e_kwh, skip = _step(s, last, i, rules, repl, typical_kwh)
        if finding is not None:
            out.findings.append(finding)
        if skip:
            continue
        if not math.isnan(e_kwh):
            out.i0.append(last)
            out.i1.append(i)
            out.e_kwh.append(e_kwh)
        else:
            out.breaks.append((last, i))
        last = i
    return out


# --- gaps ---------------------------------------------------------------------------------------------------

def cadence_s(s: Series, rules: ValidationRules) -> float | None:
    """The meter's reading cadence: the median interval [s] (None with fewer than ``cadence_min_intervals``)."""
    dt = np.diff(s.ts_s)
    dt = dt[dt > 0]
    if len(dt) < rules.cadence_min_intervals:
        return None
    return float(np.median(dt))


def _seasonal_only(s: Series, season: HeatingSeason | None, cad: float) -> bool:
    """Whether every reading of the meter is within one cadence ``cad`` [s] of a heated day (a meter read only in
    heating seasons, its last read of a season maybe a few days after the season's end)."""
    return season is not None and all(_heated(t, season) or _heated(t - cad, season) or _heated(t + cad, season)
                                      for t in s.ts_s)


def _off_season(t0_s: int, t1_s: int, cad: float, season: HeatingSeason) -> bool:
    """Whether no reading expected inside (t0, t1) [s] at the cadence ``cad`` [s] falls on a heated day."""
    slots = np.arange(t0_s + cad, t1_s - cad / 2, max(cad, 86_400.0))
    return not any(_heated(t, season) for t in slots)


def gap_findings(s: Series, rules: ValidationRules, season: HeatingSeason | None = None) -> list[Finding]:
    """One finding per interval longer than ``gap_factor`` × cadence, at the first missing reading's time; a
    meter read only in heating seasons misses nothing between seasons. The detail gives the consumption over
    the gap (register difference), to be split by :func:`estimate_consumption` and flagged on the bill."""
    cad = cadence_s(s, rules)
    if cad is None:
        return []
    dt = np.diff(s.ts_s)
    seasonal = _seasonal_only(s, season, cad)
    out = []
    for j in np.flatnonzero(dt > rules.gap_factor * cad):
        t0, t1 = int(s.ts_s[j]), int(s.ts_s[j + 1])
        if seasonal and _off_season(t0, t1, cad, season):
            continue
        missing = max(int(round((t1 - t0) / cad)) - 1, 1)
        used = s.energy_kwh[j + 1] - s.energy_kwh[j]
        h, c = (t1 - t0) / S_PER_H, cad / S_PER_H
        out.append(Finding(s.meter_id, utc_of(t0 + cad), "gap",
                           f"读数中断 {h:,.1f} h（常规间隔 {c:,.2f} h），约缺 {missing} 个读数，{_iso(t0)} 至 "
                           f"{_iso(t1)}，期间寄存器增加 {_f(used)} kWh（缺失时段用量为估算）/ gap of {h:,.1f} h "
                           f"(cadence {c:,.2f} h), about {missing} readings missing between {_iso(t0)} and "
                           f"{_iso(t1)}; the register rose {_f(used)} kWh (use in the missing span is estimated)"))
    return out


# --- spikes -------------------------------------------------------------------------------------------------

def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """(first, last) index of every run of True in ``mask``."""
    m = np.concatenate(([False], np.asarray(mask, dtype=bool), [False]))
    edges = np.flatnonzero(np.diff(m.astype(np.int8)))
    return [(int(a), int(b) - 1) for a, b in zip(edges[::2], edges[1::2], strict=True)]


def rolling_level_kw(rate_kw: np.ndarray, window: int) -> tuple[np.ndarray, np.ndarray]:
    """(median, MAD) of ``rate_kw`` [kW] over a centred window of ``window`` intervals (odd; shorter at the ends)."""
    n, half = len(rate_kw), window // 2
    med = np.empty(n)
    mad = np.empty(n)
    ends = list(range(min(half, n))) + list(range(max(n - half, half), n))
    for i in ends:
        part = rate_kw[max(i - half, 0):i + half + 1]
        med[i] = np.median(part)
        mad[i] = np.median(np.abs(part - med[i]))
    chunk = 20_000  # bounded memory: the windows of 20,000 intervals at a time
    for a in range(half, n - half, chunk):
        stop = min(a + chunk, n - half)
        view = np.lib.stride_tricks.sliding_window_view(rate_kw[a - half:stop + half], window)
        m = np.median(view, axis=1)
        med[a:stop] = m
        mad[a:stop] = np.median(np.abs(view - m[:, None]), axis=1)
    return med, mad


def spike_mask(steps: _Steps, s: Series, rules: ValidationRules, facts: MeterFacts | None) -> tuple:
    """(mask of spiking intervals, rate [kW], local median [kW], power limit [kW] or None) of the usable
    intervals."""
    t0, t1 = s.ts_s[steps.i0], s.ts_s[steps.i1]
    rate_kw = np.asarray(steps.e_kwh) / ((t1 - t0) / S_PER_H)
    cad = cadence_s(s, rules) or float(np.median(t1 - t0)) if len(t0) else S_PER_H
    window = max(rules.spike_window_min_intervals, int(round(rules.spike_window_h * S_PER_H / cad)))
    window = min(window | 1, 2001)
    med, mad = rolling_level_kw(rate_kw, window)
    # the floor is for one hour; the noise of an interval's mean power goes as 1/sqrt(hours) (a 15-minute hot-water
    # draw averages far higher than an hour holding it)
    floor_kw = rules.spike_floor_kw * np.sqrt(S_PER_H / (t1 - t0))
    scale = np.maximum(MAD_TO_SD * mad, floor_kw)
    mask = (rate_kw > med + rules.spike_mad_k * scale) & (rate_kw > rules.spike_min_ratio * med)
    limit_kw = None
    if facts is not None and facts.qp_m3_h:
        limit_kw = facts.qp_m3_h * rules.water_heat_capacity_kwh_m3_k * rules.max_delta_t_k
        mask |= rate_kw > limit_kw
    return mask, rate_kw, med, limit_kw


def spike_findings(steps: _Steps, s: Series, rules: ValidationRules, facts: MeterFacts | None
                   ) -> tuple[list[Finding], np.ndarray]:
    """One finding per run of spiking intervals (at the reading ending its first interval), and the mask."""
    if not steps.e_kwh:
        return [], np.zeros(0, dtype=bool)
    mask, rate_kw, med, limit_kw = spike_mask(steps, s, rules, facts)
    out = []
    for a, _b in _runs(mask):
        j = steps.i1[a]
        over = (f"，超过表的最大可测功率 {limit_kw:,.1f} kW" if limit_kw is not None and rate_kw[a] > limit_kw else "")
        over_en = (f", above the meter's largest measurable power {limit_kw:,.1f} kW"
                   if limit_kw is not None and rate_kw[a] > limit_kw else "")
        out.append(Finding(s.meter_id, utc_of(s.ts_s[j]), "spike",
                           f"用热量突增：{_f(steps.e_kwh[a])} kWh，平均功率 {rate_kw[a]:,.2f} kW（近期中位数 "
                           f"{med[a]:,.2f} kW）{over} / consumption spike: {_f(steps.e_kwh[a])} kWh, mean power "
                           f"{rate_kw[a]:,.2f} kW (local median {med[a]:,.2f} kW){over_en}"))
    return out, mask


# --- implausible readings -----------------------------------------------------------------------------------

def _run_findings(s: Series, mask: np.ndarray, text, min_s: float = 0.0, cad: float = 0.0) -> list[Finding]:
    """One implausible finding per run of readings in ``mask`` lasting at least ``min_s`` [s] (a run lasts from
    its first reading to its last plus one cadence ``cad`` [s]); ``text(first, last)`` gives the detail."""
    out = []
    for a, b in _runs(mask):
        if s.ts_s[b] - s.ts_s[a] + cad >= min_s:
            out.append(Finding(s.meter_id, utc_of(s.ts_s[a]), "implausible", text(a, b)))
    return out


def temperature_findings(s: Series, rules: ValidationRules) -> list[Finding]:
    """Temperatures outside [temp_min_c, temp_max_c]; return above supply for ``return_above_supply_min_h``."""
    out = []
    lo, hi = rules.temp_min_c, rules.temp_max_c
    for name, zh, arr in (("supply", "供水", s.supply_temp_c), ("return", "回水", s.return_temp_c)):
        with np.errstate(invalid="ignore"):
            bad = (arr < lo) | (arr > hi)
        out += _run_findings(s, bad, lambda a, b, arr=arr, zh=zh, name=name: (
            f"{zh}温度 {arr[a]:,.1f} °C 超出 [{lo:g}, {hi:g}] °C（{b - a + 1} 个读数）/ {name} temperature "
            f"{arr[a]:,.1f} °C outside [{lo:g}, {hi:g}] °C ({b - a + 1} readings)"))
    with np.errstate(invalid="ignore"):
        inverted = s.return_temp_c - s.supply_temp_c > rules.return_above_supply_k
    cad = cadence_s(s, rules) or 0.0
    out += _run_findings(s, inverted, lambda a, b: (
        f"回水温度高于供水温度（{s.return_temp_c[a]:,.1f} > {s.supply_temp_c[a]:,.1f} °C），持续至 {_iso(s.ts_s[b])}"
        f"，疑似温度传感器装反 / return above supply ({s.return_temp_c[a]:,.1f} > {s.supply_temp_c[a]:,.1f} °C) "
        f"until {_iso(s.ts_s[b])}: sensors swapped?"), rules.return_above_supply_min_h * S_PER_H, cad)
    return out


def flow_findings(s: Series, rules: ValidationRules, facts: MeterFacts | None) -> list[Finding]:
    """Negative flows, flows above ``flow_max_qp_factor`` × qp, and a volume register going back."""
    with np.errstate(invalid="ignore"):
        out = _run_findings(s, s.flow_m3_h < 0, lambda a, b: (
            f"流量为负 {s.flow_m3_h[a]:,.3f} m³/h / negative flow {s.flow_m3_h[a]:,.3f} m³/h"))
        if facts is not None and facts.qp_m3_h:
            cap = rules.flow_max_qp_factor * facts.qp_m3_h
            out += _run_findings(s, s.flow_m3_h > cap, lambda a, b: (
                f"流量 {s.flow_m3_h[a]:,.3f} m³/h 超过 {rules.flow_max_qp_factor:g}×qp = {cap:,.3f} m³/h / flow "
                f"{s.flow_m3_h[a]:,.3f} m³/h above {rules.flow_max_qp_factor:g} x qp = {cap:,.3f} m³/h"))
        dv = np.diff(s.volume_m3)
        back = np.concatenate(([False], dv < -rules.register_tolerance_kwh / 1000))
    out += _run_findings(s, back, lambda a, b: (
        f"累计流量回退 {s.volume_m3[a - 1]:,.3f} → {s.volume_m3[a]:,.3f} m³ / volume register went back "
        f"{s.volume_m3[a - 1]:,.3f} → {s.volume_m3[a]:,.3f} m³"))
    return out


def expected_energy_kwh(s: Series, i0: np.ndarray, i1: np.ndarray, rules: ValidationRules) -> np.ndarray:
    """Energy of each interval from volume × ΔT × ρc [kWh]: volume from the register when read at both ends, else
    the mean of the flows × duration; ΔT the mean of both ends' supply − return (NaN: not computable; an interval
    without water gives 0 whatever its temperatures)."""
    dv = s.volume_m3[i1] - s.volume_m3[i0]
    by_flow = (s.flow_m3_h[i0] + s.flow_m3_h[i1]) / 2 * (s.ts_s[i1] - s.ts_s[i0]) / S_PER_H
    vol = np.where(np.isnan(dv), by_flow, dv)
    dt_k = ((s.supply_temp_c[i0] - s.return_temp_c[i0]) + (s.supply_temp_c[i1] - s.return_temp_c[i1])) / 2
    dt_k = np.where(np.isnan(dt_k), s.supply_temp_c[i1] - s.return_temp_c[i1], dt_k)
    with np.errstate(invalid="ignore"):
        return np.where(vol == 0, 0.0, vol * dt_k * rules.water_heat_capacity_kwh_m3_k)


def power_findings(steps: _Steps, s: Series, rules: ValidationRules, skip: np.ndarray) -> list[Finding]:
    """Intervals whose energy and volume × ΔT × ρc differ by more than ``power_ratio_max`` times plus
    ``power_check_min_kwh`` (register resolution and instantaneous temperatures) over at least
    ``power_check_min_h`` (one finding per run,
    at the reading ending its first interval); intervals in ``skip`` (spikes) are not compared."""
    if not steps.e_kwh:
        return []
    i0, i1 = np.asarray(steps.i0), np.asarray(steps.i1)
    e = np.asarray(steps.e_kwh)
    exp = expected_energy_kwh(s, i0, i1, rules)
    k, slack = rules.power_ratio_max, rules.power_check_min_kwh
    with np.errstate(invalid="ignore"):
        exp_pos = np.maximum(exp, 0.0)
        bad = ((e > k * exp_pos + slack) | (exp_pos > k * e + slack)) & ~np.isnan(exp) & ~skip
    out = []
    for a, b in _runs(bad):
        if (s.ts_s[i1[b]] - s.ts_s[i0[a]]) / S_PER_H < rules.power_check_min_h:
            continue
        out.append(Finding(s.meter_id, utc_of(s.ts_s[i1[a]]), "implausible",
                           f"热量与流量×温差不符：计量 {_f(e[a])} kWh，按流量与温差应为 {_f(exp[a])} kWh / energy "
                           f"inconsistent with flow x delta-T x c: {_f(e[a])} kWh metered, {_f(exp[a])} kWh from "
                           f"volume and temperatures"))
    return out


# --- stuck registers ----------------------------------------------------------------------------------------

def _heated(ts_s: float, season: HeatingSeason) -> bool:
    d = datetime.fromtimestamp(int(ts_s), CHINA_TZ)
    return season.heating(d.month, d.day)


def _own_season_share(steps: _Steps, s: Series, season: HeatingSeason, run: tuple[int, int]) -> float | None:
    """Share of this meter's heating-season intervals outside ``run`` that consumed [0..1] (None: none)."""
    hits = total = 0
    for j, e in enumerate(steps.e_kwh):
        if run[0] <= j <= run[1] or not _heated(s.ts_s[steps.i1[j]], season):
            continue
        total += 1
        hits += e > 0
    return hits / total if total else None


def _stuck_evidence(steps: _Steps, s: Series, run: tuple[int, int], rules: ValidationRules,
                    season: HeatingSeason | None, neighbours) -> tuple[str, str] | None:
    """Why an unchanged register is wrong (Chinese, English), or None when it may be genuine."""
    a, b = steps.i0[run[0]], steps.i1[run[1]]
    flow = s.flow_m3_h[a:b + 1]
    dv = s.volume_m3[b] - s.volume_m3[a]
    hours = (s.ts_s[b] - s.ts_s[a]) / S_PER_H
    if np.nanmax(flow, initial=-1.0) > rules.stuck_flow_min_m3_h:
        top = np.nanmax(flow)
        return f"期间有流量（最大 {top:,.3f} m³/h）", f"while water flowed (up to {top:,.3f} m³/h)"
    if not np.isnan(dv) and dv > rules.stuck_flow_min_m3_h * hours:
        return f"期间累计流量增加 {dv:,.3f} m³", f"while the volume register rose by {dv:,.3f} m³"
    if season is None or not _heated((s.ts_s[a] + s.ts_s[b]) / 2, season):
        return None
    share = neighbours(s.meter_id, int(s.ts_s[a]), int(s.ts_s[b])) if neighbours is not None else None
    if share is not None:
        if share >= rules.stuck_neighbour_share:
            return (f"供暖期内，{share:.0%} 的其他表同期有用热",
                    f"in the heating season while {share:.0%} of the other meters consumed")
        return None
    own = _own_season_share(steps, s, season, run)
    if own is not None and own >= rules.stuck_neighbour_share:
        return (f"供暖期内，本表其余供暖期 {own:.0%} 的读数间隔有用热",
                f"in the heating season; this meter consumed in {own:.0%} of its other heating-season intervals")
    return None


def stuck_findings(steps: _Steps, s: Series, rules: ValidationRules, season: HeatingSeason | None,
                   neighbours=None) -> list[Finding]:
    """One finding per run of unchanged intervals long enough and with evidence (at the first reading that did
    not advance)."""
    if not steps.e_kwh:
        return []
    flat = np.asarray(steps.e_kwh) <= rules.register_tolerance_kwh
    out = []
    for run in _runs(flat):
        a, b = steps.i0[run[0]], steps.i1[run[1]]
        hours = (s.ts_s[b] - s.ts_s[a]) / S_PER_H
        if run[1] - run[0] + 1 < rules.stuck_min_intervals or hours < rules.stuck_min_h:
            continue
        why = _stuck_evidence(steps, s, run, rules, season, neighbours)
        if why is None:
            continue
        out.append(Finding(s.meter_id, utc_of(s.ts_s[steps.i1[run[0]]]), "stuck",
                           f"寄存器停在 {_f(s.energy_kwh[a])} kWh 共 {hours:,.1f} h（{run[1] - run[0] + 1} 个间隔，"
                           f"至 {_iso(s.ts_s[b])}），{why[0]} / register stuck at "
                           f"{_f(s.energy_kwh[a])} kWh for {hours:,.1f} h ({run[1] - run[0] + 1} intervals, until "
                           f"{_iso(s.ts_s[b])}) {why[1]}"))
    return out


# --- the whole check ----------------------------------------------------------------------------------------

def validate_meter(s: Series, rules: ValidationRules, *, facts: MeterFacts | None = None,
                   replacements: Sequence[Replacement] = (), season: HeatingSeason | None = None,
                   neighbours=None) -> list[Finding]:
    """Every finding of one meter's series, in time order. ``neighbours(meter_id, t0_s, t1_s)`` gives the share
    of other meters that consumed over a span (None: none to compare)."""
    repl = sorted((r for r in replacements if r.meter_id == s.meter_id), key=lambda r: r.ts)
    steps = register_steps(s, rules, repl)
    spikes, spiking = spike_findings(steps, s, rules, facts)
    found = (steps.findings + gap_findings(s, rules, season) + spikes + temperature_findings(s, rules)
             + flow_findings(s, rules, facts) + power_findings(steps, s, rules, spiking)
             + stuck_findings(steps, s, rules, season, neighbours))
    return sorted(found, key=lambda f: (f.ts, KINDS.index(f.kind)))


def neighbour_share(series: Mapping[str, Series], rules: ValidationRules, sample: int = 200):
    """A ``neighbours`` function over ``series``: the share of up to ``sample`` other meters (in id order) read
    before and after a span whose interpolated register rose over it."""
    ids = sorted(series)

    def share(meter_id: str, t0_s: int, t1_s: int) -> float | None:
        hits = total = 0
        for other in ids:
            o = series[other]
            if other == meter_id or len(o) < 2 or o.ts_s[0] > t0_s or o.ts_s[-1] < t1_s:
                continue
            rise = np.interp(t1_s, o.ts_s, o.energy_kwh) - np.interp(t0_s, o.ts_s, o.energy_kwh)
            total += 1
            hits += rise > rules.register_tolerance_kwh
            if total >= sample:
                break
        return hits / total if total else None

    return share


def validate_reads(series: Mapping[str, Series], rules: ValidationRules, *,
                   facts: Mapping[str, MeterFacts] | None = None, replacements: Sequence[Replacement] = (),
                   season: HeatingSeason | None = None, progress=None) -> list[Finding]:
    """Every finding of every meter, by meter id then time; ``progress(n)`` is called after each meter."""
    facts = facts or {}
    near = neighbour_share(series, rules)
    out: list[Finding] = []
    for meter_id in sorted(series):
        out += validate_meter(series[meter_id], rules, facts=facts.get(meter_id), replacements=replacements,
                              season=season, neighbours=near)
        if progress is not None:
            progress(1)
    return out


# --- estimates for gaps -------------------------------------------------------------------------------------

def degree_hours(t0_s: float, t1_s: float, daily_mean_temp_c: Mapping[date, float], base_temp_c: float) -> float:
    """Heating degree-hours [K·h] between two times: each local day's max(base − mean, 0) × hours of it inside
    [t0, t1]; a day without weather counts as at the base (no weight)."""
    total = 0.0
    t = t0_s
    while t < t1_s:
        d = datetime.fromtimestamp(int(t), CHINA_TZ)
        next_day = datetime(d.year, d.month, d.day, tzinfo=CHINA_TZ).timestamp() + 24 * S_PER_H
        end = min(next_day, t1_s)
        temp = daily_mean_temp_c.get(d.date())
        if temp is not None:
            total += max(base_temp_c - temp, 0.0) * (end - t) / S_PER_H
        t = end
    return total


def register_at(s: Series, ts_s: int, daily_mean_temp_c: Mapping[date, float] | None = None,
                base_temp_c: float = 18.0) -> tuple[float, str]:
    """The register [kWh] at ``ts_s`` and how it was found: ``actual`` (read then), ``linear`` (interpolated in
    time), ``degree_day`` (interpolated by heating degree-hours, when weather is given and the span has any),
    ``extrapolated`` (beyond the reads: the mean rate of the nearest 30 days). The series must be continuous
    (resets and replacements bridged first)."""
    t, e = s.ts_s, s.energy_kwh
    j = int(np.searchsorted(t, ts_s))
    if j < len(t) and t[j] == ts_s:
        return float(e[j]), "actual"
    if 0 < j < len(t):
        t0, t1 = float(t[j - 1]), float(t[j])
        if daily_mean_temp_c:
            whole = degree_hours(t0, t1, daily_mean_temp_c, base_temp_c)
            if whole > 0:
                part = degree_hours(t0, ts_s, daily_mean_temp_c, base_temp_c)
                return float(e[j - 1] + (e[j] - e[j - 1]) * part / whole), "degree_day"
        return float(e[j - 1] + (e[j] - e[j - 1]) * (ts_s - t0) / (t1 - t0)), "linear"
    if len(t) < 2:
        raise ValueError(f"meter {s.meter_id}: too few reads to estimate")
    span = 30 * 24 * S_PER_H
    if j == 0:
        k = int(np.searchsorted(t, t[0] + span, side="right")) - 1
        k = max(k, 1)
        rate = (e[k] - e[0]) / (t[k] - t[0])
        return float(max(e[0] - rate * (t[0] - ts_s), 0.0)), "extrapolated"
    k = min(int(np.searchsorted(t, t[-1] - span)), len(t) - 2)
    rate = (e[-1] - e[k]) / (t[-1] - t[k])
    return float(e[-1] + rate * (ts_s - t[-1])), "extrapolated"


def bridged(s: Series, rules: ValidationRules, repl: Sequence[Replacement] = ()) -> tuple[Series, int]:
    """``s`` made continuous for billing (what :func:`register_at` needs): the register walk's usable intervals
    keep their consumption (a recorded replacement bridged by its old final and new initial reads); a reading the
    walk left out (a one-reading outlier) is dropped; across a discontinuity whose consumption is not known (reset,
    rollback, a replacement without a record) the consumption is the meter's mean rate over its usable intervals ×
    the interval's length. Returns the continuous series and the number of intervals so estimated (the bill then
    says "estimated"). A series without discontinuities or outliers comes back as it is."""
    steps = register_steps(s, rules, repl)
    if not steps.breaks and len(steps.i1) == len(s) - 1 and bool(np.all(np.diff(s.energy_kwh) >= 0)):
        return s, 0
    step_to: dict[int, tuple[int, float | None]] = {i1: (i0, e) for i0, i1, e in
                                                   zip(steps.i0, steps.i1, steps.e_kwh, strict=True)}
    step_to.update({i1: (i0, None) for i0, i1 in steps.breaks})
    dur = float(sum(int(s.ts_s[i1]) - int(s.ts_s[i0]) for i0, i1 in zip(steps.i0, steps.i1, strict=True)))
    rate = sum(steps.e_kwh) / dur if dur > 0 else 0.0  # kWh per second over the usable intervals
    kept, energy_at, estimated = [0], {0: float(s.energy_kwh[0])}, 0
    for i in sorted(step_to):
        i0, e = step_to[i]
        if e is None:
            e = rate * float(int(s.ts_s[i]) - int(s.ts_s[i0]))
            estimated += 1
        energy_at[i] = energy_at[i0] + e
        kept.append(i)
    energy = [energy_at[i] for i in kept]
    idx = np.array(kept, dtype=np.int64)
    return Series(s.meter_id, s.ts_s[idx], np.array(energy, dtype=float), s.volume_m3[idx], s.flow_m3_h[idx],
                  s.supply_temp_c[idx], s.return_temp_c[idx],
                  tuple(s.serial[i] for i in kept) if s.serial else ()), estimated


def estimate_consumption(s: Series, start: datetime, end: datetime,
                         daily_mean_temp_c: Mapping[date, float] | None = None,
                         base_temp_c: float = 18.0) -> GapEstimate:
    """Consumption [kWh] between ``start`` and ``end`` from the register at both times (:func:`register_at`);
    ``estimated`` unless both were read, ``method`` the weaker of the two (shown on the bill)."""
    e0, m0 = register_at(s, int(start.timestamp()), daily_mean_temp_c, base_temp_c)
    e1, m1 = register_at(s, int(end.timestamp()), daily_mean_temp_c, base_temp_c)
    order = ("actual", "degree_day", "linear", "extrapolated")
    method = max(m0, m1, key=order.index)
    return GapEstimate(s.meter_id, start, end, max(e1 - e0, 0.0), method, method != "actual")
