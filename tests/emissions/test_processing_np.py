"""The array versions the demo history is computed with give what the scalar functions give, value by value:
``StackModel.hour_samples`` / ``hour_sample``, ``evaluate_device_hours`` / ``evaluate_hour`` (device basis) and
``evaluate_days`` / ``evaluate_day``."""

from __future__ import annotations

import math
import random
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from cleanheat.emissions.hj212.codec import encode
from cleanheat.emissions.processing import HourValue, Rules, Sample, evaluate_day, evaluate_hour
from cleanheat.emissions.processing_np import evaluate_days, evaluate_device_hours, none_for_nan
from cleanheat.emissions.traffic import StackModel

REL = 1e-12


def _close(a: float | None, b: float | None) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return math.isclose(a, b, rel_tol=REL, abs_tol=0.0)


@pytest.mark.parametrize(("seed", "exceedance_rate", "step_min"), [(1, 0.004, 60), (7, 0.3, 60), (3, 0.0, 37)])
def test_hour_samples_equal_hour_sample(seed, exceedance_rate, step_min):
    # 37-minute steps put the sampled minute in the calibration window now and then (flag C)
    m = StackModel(mn=f"0100DE{seed:018d}", seed=seed, exceedance_rate=exceedance_rate, maintenance_rate=0.05)
    t0 = datetime(2019, 10, 20, 16, tzinfo=UTC)
    starts = [t0 + timedelta(minutes=step_min * k) for k in range(3000)]
    o2, zs, flags = m.hour_samples(np.array([int(t.timestamp()) for t in starts]))
    seen = set()
    for i, t in enumerate(starts):
        ref_o2, ref_zs, ref_flag = m.hour_sample(t)
        assert flags[i] == ref_flag
        assert _close(o2[i], ref_o2)
        assert all(_close(zs[p][i], v) for p, v in ref_zs.items())
        seen.add(ref_flag)
    assert "M" in seen and "N" in seen
    if step_min != 60:
        assert "C" in seen


def test_device_hours_equal_evaluate_hour():
    rng = random.Random(5)
    rules = Rules(o2_max_pct=17.0)  # some O2 values beyond it: no converted value
    n = 4000
    conc = np.array([rng.uniform(1, 80) for _ in range(n)])
    o2 = np.array([rng.uniform(3, 18) for _ in range(n)])
    ref = np.array([rng.choice((3.0, 6.0, 9.0)) for _ in range(n)])
    flags = np.array([rng.choice("NNNNMCD") for _ in range(n)])
    limit = np.array([rng.choice((np.nan, 10.0, 30.0, 50.0)) for _ in range(n)])
    got = evaluate_device_hours(conc, o2, flags, ref_o2_pct=ref, limit_mg_m3=limit, rules=rules)
    zs = none_for_nan(got.conc_zs_mg_m3)
    for i in range(n):
        h = evaluate_hour("a21002", [], Sample(float(conc[i]), float(o2[i]), str(flags[i]), 1.0),
                          ref_o2_pct=float(ref[i]), limit_mg_m3=none_for_nan(limit[i:i + 1])[0], rules=rules)
        assert (h.valid, h.exceeded, h.reason) == (bool(got.valid[i]), bool(got.exceeded[i]), got.reason[i])
        assert _close(h.conc_zs_mg_m3, zs[i])
    assert got.exceeded.any() and (~got.valid).any() and np.isnan(got.conc_zs_mg_m3).any()


def test_days_equal_evaluate_day():
    rng = np.random.default_rng(3)
    rules = Rules()
    hours_per_day = rng.integers(1, 25, 200)
    day = np.repeat(np.arange(200) + 18_000, hours_per_day)
    n = len(day)
    valid = rng.random(n) < 0.9
    zs = np.where(rng.random(n) < 0.05, np.nan, rng.uniform(1, 60, n))
    limit = np.where(rng.random(n) < 0.1, np.nan, 50.0)
    exceeded = valid & ~np.isnan(zs) & ~np.isnan(limit) & (zs > limit)
    got = evaluate_days(day, valid, zs, exceeded, limit, rules)
    assert len(got.first) == 200
    zs_list, limit_list = none_for_nan(zs), none_for_nan(limit)
    for k, first in enumerate(got.first.tolist()):
        last = first + int(got.data_hours[k])
        assert set(day[first:last].tolist()) == {int(day[first])}
        hours = [HourValue("a34013", None, None, zs_list[i], None, bool(valid[i]), None, None, None, "", "",
                           limit_list[i], bool(exceeded[i])) for i in range(first, last)]
        want = evaluate_day("a34013", hours, limit_mg_m3=limit_list[first], rules=rules)
        assert want.valid_hours == got.valid_hours[k] and want.valid == got.valid[k]
        assert want.exceeded_hours == got.exceeded_hours[k] and want.judged_hours == got.judged_hours[k]
        assert want.data_hours == got.data_hours[k]
        assert want.conc_zs_mg_m3 == none_for_nan(got.conc_zs_mg_m3[k:k + 1])[0]  # the same sums, in order
        assert want.max_zs_mg_m3 == none_for_nan(got.max_zs_mg_m3[k:k + 1])[0]
        assert want.limit_mg_m3 == none_for_nan(got.limit_mg_m3[k:k + 1])[0]
    assert got.valid.any() and not got.valid.all()


def test_hour_packets_equal_hour_packet():
    # hours around Beijing 03:00 (calibration minutes, flag C) and frequent maintenance hours (flag M)
    m = StackModel(mn="0100DE000000000000000004", seed=4, exceedance_rate=0.2, maintenance_rate=0.2, flag=9)
    starts = [datetime(2026, 11, 30, 12, tzinfo=UTC) + timedelta(hours=k) for k in range(48)]
    for every_min in (1, 5):
        got = [encode(p) for p in m.hour_packets(starts, every_min=every_min)]
        assert got == [encode(m.hour_packet(t, every_min=every_min)) for t in starts]
    assert {minute["a19001"][2] for t in starts for minute in m.hour_minutes(t)} == {"N", "C", "M"}
