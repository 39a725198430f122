"""From packets to evaluated hours (pure; no I/O apart from :func:`read_rules`).

* :func:`readings_from_packet`: the values of a 2011 / 2051 / 2061 / 2031 packet as rows (real-time, minute,
  hour, day), times in UTC.
* :func:`o2_corrected`: the converted (折算) concentration ``C · (21 − O2_ref) / (21 − O2)`` (HJ 212 Appendix D
  eq. 28; GB 13271 eq. 1).
* :func:`evaluate_hour`: the hourly value of one pollutant, its validity (≥ 45 valid minutes, or a valid hourly
  upload), its converted mean against the limit.
* :func:`evaluate_day`: the daily value (≥ 20 valid hours).
* :func:`exceedance_runs`: consecutive exceeded hours as events.

Concentrations reported by a CEMS are taken to be standard-state, dry (as HJ 212 requires for -Avg values of
flue gas); the platform re-does the O2 correction with the reference O2 of the source's limit set rather than
trusting the device's own -ZsAvg (which is kept for comparison, and used only when no O2 value came).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from pathlib import Path

import yaml

from cleanheat.emissions.errors import HJ212Error
from cleanheat.emissions.hj212.codec import _NUMBER_RE, Packet, parse_time
from cleanheat.emissions.hj212.codes import emissions_data_dir

O2 = "a19001"
#: The pollutants evaluated against limits, in display order (PM, SO2, NOx).
POLLUTANTS = ("a34013", "a21026", "a21002")
#: Command code -> interval of the values it carries.
INTERVAL_OF_CN = {"2011": "rtd", "2051": "minute", "2061": "hour", "2031": "day"}
HOUR = timedelta(hours=1)


@dataclass(frozen=True)
class Rules:
    hour_min_valid_minutes: int = 45
    day_min_valid_hours: int = 20
    valid_flags: frozenset[str] = frozenset({"N"})
    o2_max_pct: float = 20.0
    min_valid_hour_share: float = 0.75
    missing_hourly_after_min: int = 60


@lru_cache(maxsize=8)
def read_rules(data_dir: Path) -> Rules:
    """The rules in ``<data_dir>/emissions/rules.yaml`` (``data_dir``: ``Settings.data_dir``)."""
    raw = yaml.safe_load((emissions_data_dir(data_dir) / "rules.yaml").read_text(encoding="utf-8"))
    v, c, a = raw["validity"], raw["compliance"], raw["alarms"]
    return Rules(
        hour_min_valid_minutes=int(v["hour_min_valid_minutes"]["value"]),
        day_min_valid_hours=int(v["day_min_valid_hours"]["value"]),
        valid_flags=frozenset(v["valid_flags"]["value"]),
        o2_max_pct=float(v["o2_max_pct"]["value"]),
        min_valid_hour_share=float(c["min_valid_hour_share"]["value"]),
        missing_hourly_after_min=int(a["missing_hourly_after_min"]["value"]),
    )


# --- packets -> readings -----------------------------------------------------------------------------------

@dataclass(slots=True)
class Reading:
    """One factor's values for one period (``ts`` = start of the period, or the instant for real-time data)."""

    interval: str
    ts: datetime
    factor: str
    avg: float | None = None
    min: float | None = None
    max: float | None = None
    cou: float | None = None
    zs_avg: float | None = None
    zs_min: float | None = None
    zs_max: float | None = None
    flag: str | None = None


_NUMBER_MATCH = _NUMBER_RE.match
_SUFFIX_COLUMN = {"Avg": "avg", "Min": "min", "Max": "max", "Cou": "cou", "ZsAvg": "zs_avg", "ZsMin": "zs_min",
                  "ZsMax": "zs_max", "Rtd": "avg", "ZsRtd": "zs_avg"}


#: longest factor code stored (HJ 212-2017 codes have 6 characters, HJ/T 212-2005 ones 2-3)
MAX_FACTOR_LEN = 16


def readings_from_packet(packet: Packet) -> list[Reading]:
    """The values a data upload carries; [] for commands without values. Raises HJ212Error on a bad value."""
    interval = INTERVAL_OF_CN.get(packet.cn)
    if interval is None:
        return []
    dt = packet.data_time
    if dt is None:
        raise HJ212Error("missing_field", f"CN {packet.cn} without DataTime", field="DataTime")
    ts = parse_time(dt, field="DataTime")
    out = []
    match = _NUMBER_MATCH
    for code, fields in packet.cp.items():
        if len(code) > MAX_FACTOR_LEN or not code.isprintable():
            raise HJ212Error("bad_field", f"factor code {code!r} is not a code (over {MAX_FACTOR_LEN} characters "
                             "or control characters)", field=code[:MAX_FACTOR_LEN])
        r = Reading(interval, ts, code)
        seen = False
        for suffix, text in fields.items():
            col = _SUFFIX_COLUMN.get(suffix)
            if col is not None:
                if text == "":
                    continue
                if match(text) is None:
                    raise HJ212Error("bad_value", f"{text!r} is not a number", field=f"{code}-{suffix}")
                setattr(r, col, float(text))
                seen = True
            elif suffix == "Flag":
                if text and not text[:1].isprintable():
                    raise HJ212Error("bad_value", f"data flag {text[:1]!r} is a control character",
                                     field=f"{code}-Flag")
                r.flag = text[:1] if text else None
                seen = True
        if seen:
            out.append(r)
    return out


# --- O2 correction and hourly evaluation ------------------------------------------------------------------

def o2_corrected(conc_mg_m3: float, o2_pct: float, ref_o2_pct: float, rules: Rules = Rules()) -> float | None:
    """``C · (21 − O2_ref) / (21 − O2)`` [mg/m³]; None when the O2 is outside [0, o2_max_pct]."""
    if not (0.0 <= o2_pct <= rules.o2_max_pct):
        return None
    return conc_mg_m3 * (21.0 - ref_o2_pct) / (21.0 - o2_pct)


@dataclass(frozen=True)
class Sample:
    """One minute (or one uploaded hour) of a pollutant with the O2 of the same period."""

    conc_mg_m3: float | None
    o2_pct: float | None
    flag: str | None
    device_zs_mg_m3: float | None = None
    o2_flag: str | None = None


@dataclass(frozen=True)
class HourValue:
    pollutant: str
    conc_mg_m3: float | None
    o2_pct: float | None
    conc_zs_mg_m3: float | None
    device_zs_mg_m3: float | None
    valid: bool
    valid_minutes: int | None
    minutes_received: int | None
    flag: str | None
    basis: str  # minutes | device | none
    reason: str
    limit_mg_m3: float | None
    exceeded: bool


def _converted(s: Sample, ref_o2_pct: float | None, rules: Rules) -> float | None:
    if s.conc_mg_m3 is None:
        return None
    if ref_o2_pct is not None and s.o2_pct is not None and (s.o2_flag is None or s.o2_flag in rules.valid_flags):
        return o2_corrected(s.conc_mg_m3, s.o2_pct, ref_o2_pct, rules)
    return s.device_zs_mg_m3


def _mean(xs: Sequence[float]) -> float | None:
    return sum(xs) / len(xs) if xs else None


def evaluate_hour(pollutant: str, minutes: Sequence[Sample], device_hour: Sample | None, *,
                  ref_o2_pct: float | None, limit_mg_m3: float | None, rules: Rules = Rules()) -> HourValue:
    """The hourly value of one pollutant.

    Basis: the minute values when at least ``hour_min_valid_minutes`` minutes were received (the platform's own
    hourly mean of the minutes' converted values, valid with ≥ 45 valid minutes); otherwise the device's hourly
    upload (valid when flagged N and convertible); otherwise nothing (invalid). A minute is valid when flagged N,
    with a value and a usable O2 (or a device-converted value).
    """
    k_min = rules.hour_min_valid_minutes
    if len(minutes) >= k_min or (minutes and device_hour is None):
        conv = [(m, _converted(m, ref_o2_pct, rules)) for m in minutes]
        good = [(m, z) for m, z in conv if m.flag in rules.valid_flags and z is not None]
        k = len(good)
        conc = _mean([m.conc_mg_m3 for m, _ in good])
        o2 = _mean([m.o2_pct for m, _ in good if m.o2_pct is not None])
        zs = _mean([z for _, z in good])
        dev = _mean([m.device_zs_mg_m3 for m, _ in good if m.device_zs_mg_m3 is not None])
        valid = k >= k_min
        if valid:
            flag, reason = "N", ""
        else:
            bad = Counter(m.flag for m in minutes if m.flag not in rules.valid_flags and m.flag)
            flag = bad.most_common(1)[0][0] if bad else "D"
            reason = f"only {k} valid minutes of {len(minutes)} received (needs {k_min})"
        exceeded = bool(valid and limit_mg_m3 is not None and zs is not None and zs > limit_mg_m3)
        return HourValue(pollutant, conc, o2, zs, dev, valid, k, len(minutes), flag, "minutes", reason,
                         limit_mg_m3, exceeded)
    if device_hour is not None:
        zs = _converted(device_hour, ref_o2_pct, rules)
        valid = device_hour.flag in rules.valid_flags and zs is not None
        if valid:
            reason = ""
        elif device_hour.flag not in rules.valid_flags:
            reason = f"hourly value flagged {device_hour.flag or 'without a flag'}"
        else:
            reason = "no value or no usable O2 for the correction"
        exceeded = bool(valid and limit_mg_m3 is not None and zs > limit_mg_m3)
        return HourValue(pollutant, device_hour.conc_mg_m3, device_hour.o2_pct, zs, device_hour.device_zs_mg_m3,
                         valid, None, len(minutes) or None, device_hour.flag, "device", reason, limit_mg_m3,
                         exceeded)
    return HourValue(pollutant, None, None, None, None, False, 0, 0, None, "none", "no data", limit_mg_m3, False)


@dataclass(frozen=True)
class DayValue:
    pollutant: str
    valid_hours: int
    valid: bool
    conc_zs_mg_m3: float | None  # mean of the valid hours' converted values
    max_zs_mg_m3: float | None
    exceeded_hours: int
    limit_mg_m3: float | None
    judged_hours: int = 0  # valid hours with a limit and a converted value
    data_hours: int = 0  # hours with any data


def evaluate_day(pollutant: str, hours: Iterable[HourValue], *, limit_mg_m3: float | None,
                 rules: Rules = Rules()) -> DayValue:
    hours = list(hours)
    good = [h.conc_zs_mg_m3 for h in hours if h.valid and h.conc_zs_mg_m3 is not None]
    exceeded = sum(1 for h in hours if h.exceeded)
    judged = sum(1 for h in hours if h.valid and h.conc_zs_mg_m3 is not None and h.limit_mg_m3 is not None)
    return DayValue(pollutant, len(good), len(good) >= rules.day_min_valid_hours, _mean(good),
                    max(good) if good else None, exceeded, limit_mg_m3, judged, len(hours))


# --- exceedance events and missing data --------------------------------------------------------------------

@dataclass(frozen=True)
class Run:
    start: datetime  # start of the first exceeded hour
    end: datetime  # end of the last exceeded hour
    hours: int
    max_zs_mg_m3: float
    limit_mg_m3: float


def exceedance_runs(hours: Iterable[tuple[datetime, bool, float | None, float | None]]) -> list[Run]:
    """Consecutive exceeded hours (``(hour start, exceeded, zs, limit)``, any order) merged into runs."""
    runs: list[Run] = []
    for ts, exceeded, zs, limit in sorted(hours, key=lambda h: h[0]):
        if not exceeded or zs is None or limit is None:
            continue
        if runs and runs[-1].end == ts:
            r = runs[-1]
            runs[-1] = Run(r.start, ts + HOUR, r.hours + 1, max(r.max_zs_mg_m3, zs), limit)
        else:
            runs.append(Run(ts, ts + HOUR, 1, zs, limit))
    return runs


def hourly_data_missing(last_hour_start: datetime | None, now: datetime, rules: Rules = Rules()) -> bool:
    """True when no hourly value has come for over ``missing_hourly_after_min`` after the end of the last hour
    (a never-reporting point counts as missing)."""
    if last_hour_start is None:
        return True
    return now - (last_hour_start + HOUR) > timedelta(minutes=rules.missing_hourly_after_min)


def hour_start(t: datetime) -> datetime:
    return t.replace(minute=0, second=0, microsecond=0)
