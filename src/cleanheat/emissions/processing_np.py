"""Array versions of :mod:`cleanheat.emissions.processing` for long synthetic histories (the demo's seasons of
hourly data): the same rules, one numpy operation per column instead of one call per value.

* :func:`evaluate_device_hours`: :func:`~cleanheat.emissions.processing.evaluate_hour` of hours evaluated on
  the device's hourly value alone (no minutes), each with a value, an O2 (without an O2 flag) and a reference O2;
* :func:`evaluate_days`: :func:`~cleanheat.emissions.processing.evaluate_day` of consecutive runs of hours.

Missing values (None in :mod:`processing`) are NaN here. The results equal the scalar functions' (the sums are
taken in the same order); tests/emissions/test_processing_np.py compares them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from cleanheat.emissions.processing import Rules

NO_O2_REASON = "no value or no usable O2 for the correction"


@dataclass(frozen=True)
class DeviceHours:
    """Evaluated hours (arrays of one length): converted mean [mg/m³] (NaN: none), validity, exceedance and the
    reason an hour is not valid ("" when it is)."""

    conc_zs_mg_m3: np.ndarray
    valid: np.ndarray
    exceeded: np.ndarray
    reason: np.ndarray


def evaluate_device_hours(conc_mg_m3: np.ndarray, o2_pct: np.ndarray, flags: np.ndarray, *, ref_o2_pct: np.ndarray,
                          limit_mg_m3: np.ndarray, rules: Rules) -> DeviceHours:
    """``evaluate_hour(p, [], Sample(conc, o2, flag), ref_o2_pct=ref, limit_mg_m3=limit)`` of every hour
    (``limit_mg_m3`` NaN: no limit)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        usable = (o2_pct >= 0.0) & (o2_pct <= rules.o2_max_pct)
        zs = np.where(usable, conc_mg_m3 * (21.0 - ref_o2_pct) / (21.0 - o2_pct), np.nan)
    flag_ok = np.isin(flags, sorted(rules.valid_flags))
    valid = flag_ok & ~np.isnan(zs)
    exceeded = valid & ~np.isnan(limit_mg_m3) & (zs > limit_mg_m3)
    reason = np.full(len(flags), "", dtype=object)
    reason[flag_ok & ~valid] = NO_O2_REASON
    for flag in np.unique(flags[~flag_ok]).tolist():
        reason[~flag_ok & (flags == flag)] = f"hourly value flagged {flag or 'without a flag'}"
    return DeviceHours(zs, valid, exceeded, reason)


@dataclass(frozen=True)
class Days:
    """Evaluated days (arrays of one length, one per run of hours): the index of the run's first hour and the
    fields of :class:`~cleanheat.emissions.processing.DayValue` (NaN: None)."""

    first: np.ndarray
    valid_hours: np.ndarray
    valid: np.ndarray
    conc_zs_mg_m3: np.ndarray
    max_zs_mg_m3: np.ndarray
    exceeded_hours: np.ndarray
    limit_mg_m3: np.ndarray
    judged_hours: np.ndarray
    data_hours: np.ndarray


def evaluate_days(day: np.ndarray, valid: np.ndarray, conc_zs_mg_m3: np.ndarray, exceeded: np.ndarray,
                  limit_mg_m3: np.ndarray, rules: Rules) -> Days:
    """``evaluate_day`` of each run of equal ``day`` labels (hours in time order, so a day's hours are one run),
    with the limit of the run's first hour as the day's limit."""
    n = len(day)
    first = np.flatnonzero(np.r_[True, day[1:] != day[:-1]]) if n else np.zeros(0, dtype=np.int64)
    run = np.cumsum(np.r_[False, day[1:] != day[:-1]]) if n else np.zeros(0, dtype=np.int64)
    good = valid & ~np.isnan(conc_zs_mg_m3)
    counts = np.diff(np.r_[first, n])

    def per_run(x: np.ndarray) -> np.ndarray:
        return np.add.reduceat(x.astype(np.int64), first) if n else np.zeros(0, dtype=np.int64)

    valid_hours = per_run(good)
    # bincount adds in index order, as sum() over the list of good hours does (adding 0.0 changes nothing)
    total = np.bincount(run, weights=np.where(good, conc_zs_mg_m3, 0.0), minlength=len(first))
    with np.errstate(divide="ignore", invalid="ignore"):
        mean = np.where(valid_hours > 0, total / valid_hours, np.nan)
    peak = np.maximum.reduceat(np.where(good, conc_zs_mg_m3, -np.inf), first) if n else np.zeros(0)
    peak = np.where(valid_hours > 0, peak, np.nan)
    return Days(first=first, valid_hours=valid_hours, valid=valid_hours >= rules.day_min_valid_hours,
                conc_zs_mg_m3=mean, max_zs_mg_m3=peak, exceeded_hours=per_run(exceeded),
                limit_mg_m3=limit_mg_m3[first], judged_hours=per_run(good & ~np.isnan(limit_mg_m3)),
                data_hours=counts)


def none_for_nan(values: np.ndarray) -> list:
    """The values as Python numbers, NaN as None."""
    out = values.tolist()
    if np.isnan(values).any():
        out = [None if v != v else v for v in out]
    return out
