"""Synthetic but realistic CEMS traffic of one stack (pure, deterministic from a seed).

Used by the simulator (``cleanheat emissions simulate``), the demo data and the tests. A :class:`StackModel`
gives minute values of PM, SO2, NOx (converted to the stack's reference O2), O2, flue-gas temperature, pressure,
humidity, velocity and flow, with:

* a daily load cycle and noise;
* exceedance episodes (NOx and SO2 rise for a few hours) at ``exceedance_rate`` per hour;
* a daily zero/span calibration (flag C) and occasional maintenance hours (flag M);

and builds the 2011 (real-time), 2051 (minute), 2061 (hourly) and 2031 (daily) packets a data logger sends,
hourly values being the means of the same minutes. Measured concentrations are derived from the converted ones:
``C = C_zs · (21 − O2) / (21 − O2_ref)`` (the inverse of HJ 212 eq. 28).
"""

from __future__ import annotations

import math
import zlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cached_property

import numpy as np

from cleanheat.emissions.hj212.codec import Packet, format_qn, format_time, make_packet
from cleanheat.timeutil import PROGRAMME_UTC_OFFSET

MINUTE = timedelta(minutes=1)
HOUR = timedelta(hours=1)
DAY = timedelta(days=1)
GAS = ("a34013", "a21026", "a21002")


@dataclass(frozen=True)
class StackModel:
    mn: str
    password: str = "123456"
    seed: int = 0
    #: levels of the converted concentrations [mg/m³] at the stack's reference O2
    pm_zs: float = 5.0
    so2_zs: float = 22.0
    nox_zs: float = 38.0
    ref_o2_pct: float = 9.0
    o2_pct: float = 10.5
    flow_m3_s: float = 60.0
    #: chance per hour that an exceedance episode starts
    exceedance_rate: float = 0.01
    exceedance_factor: float = 1.6
    #: chance per hour of a maintenance hour (flag M)
    maintenance_rate: float = 0.003
    #: daily calibration: minutes [start, start + length) of the local hour ``calibration_hour`` get flag C
    calibration_hour: int = 3
    calibration_minutes: int = 12
    flag: int = 5  # Flag of data uploads: 2017 edition, answer requested
    st: str = "31"

    # --- deterministic randomness (counter-based: the same stack and minute always give the same values) ---
    @cached_property
    def _kinds(self) -> dict[int, int]:
        key = _mix(self.seed * 0x1000193 ^ zlib.crc32(self.mn.encode()))
        return {k: _mix(key ^ k) for k in (_K_MIN, _K_EXC, _K_MNT)}

    def _base(self, kind: int, index: int) -> int:
        return _mix(self._kinds[kind] ^ (index & _M64))

    def _u(self, kind: int, index: int, n: int = 0) -> float:
        """A uniform number in [0, 1) for (stack, kind, index, n)."""
        return (_mix(self._base(kind, index) ^ n) >> 11) * _TWO_M53

    @staticmethod
    def _gauss(base: int, n: int, sigma: float) -> float:
        u1 = ((_mix(base ^ (2 * n)) >> 11) * _TWO_M53) or _TWO_M53
        u2 = (_mix(base ^ (2 * n + 1)) >> 11) * _TWO_M53
        return sigma * math.sqrt(-2.0 * math.log(u1)) * math.cos(2.0 * math.pi * u2)

    def _hour_index(self, t: datetime) -> int:
        return int(t.timestamp() // 3600)

    def in_exceedance(self, t: datetime) -> bool:
        """An episode started in one of the last 4 hours (episodes last 1-4 hours)."""
        if self.exceedance_rate <= 0:
            return False
        h = self._hour_index(t)
        cache = self._hour_cache
        hit = cache.get(h)
        if hit is None:
            hit = any(self._u(_K_EXC, h - back) < self.exceedance_rate
                      and back < 1 + int(self._u(_K_EXC, h - back, 1) * 4) for back in range(4))
            if len(cache) > 4096:
                cache.clear()
            cache[h] = hit
        return hit

    @cached_property
    def _hour_cache(self) -> dict[int, bool]:
        return {}

    def in_maintenance(self, t: datetime) -> bool:
        return self._u(_K_MNT, self._hour_index(t)) < self.maintenance_rate

    def minute_flag(self, t: datetime) -> str:
        local = t + PROGRAMME_UTC_OFFSET
        if local.hour == self.calibration_hour and local.minute < self.calibration_minutes:
            return "C"
        if self.in_maintenance(t):
            return "M"
        return "N"

    # --- values ---------------------------------------------------------------------------------------
    def minute_values(self, t: datetime) -> dict[str, tuple[float, float | None, str]]:
        """factor -> (value, converted value or None, flag) for the minute starting at ``t``."""
        base = self._base(_K_MIN, int(t.timestamp() // 60))

        def g(_i: int, n: int, sigma: float) -> float:
            return self._gauss(base, n, sigma)

        i = 0
        local_h = (t + PROGRAMME_UTC_OFFSET).hour + t.minute / 60
        load = 0.85 + 0.15 * math.cos((local_h - 6) / 24 * 2 * math.pi)  # peak in the early morning
        o2 = max(3.0, min(18.0, self.o2_pct + g(i, 0, 0.3) - 0.8 * (load - 0.85)))
        conv = (21.0 - o2) / (21.0 - self.ref_o2_pct)  # measured = zs * conv
        exc = self.exceedance_factor if self.in_exceedance(t) else 1.0
        flag = self.minute_flag(t)
        zs = {
            "a34013": max(0.1, self.pm_zs * (1 + g(i, 1, 0.12))),
            "a21026": max(0.1, self.so2_zs * exc * load * (1 + g(i, 2, 0.08))),
            "a21002": max(0.1, self.nox_zs * exc * load * (1 + g(i, 3, 0.06))),
        }
        if flag == "C":  # calibration gas: values meaningless
            zs = {k: v * 0.2 for k, v in zs.items()}
        out: dict[str, tuple[float, float | None, str]] = {k: (v * conv, v, flag) for k, v in zs.items()}
        out["a19001"] = (o2, None, flag)
        flow = self.flow_m3_s * load * (1 + g(i, 4, 0.03))
        out["a00000"] = (flow, None, "N")
        out["a01012"] = (45.0 + 10 * load + g(i, 5, 0.5), None, "N")
        out["a01013"] = (-0.12 + g(i, 6, 0.01), None, "N")
        out["a01014"] = (6.5 + g(i, 7, 0.2), None, "N")
        out["a01011"] = (flow / 6.0, None, "N")
        return out

    # --- packets --------------------------------------------------------------------------------------
    def _packet(self, cn: str, t_sent: datetime, cp: dict) -> Packet:
        return make_packet(qn=format_qn(t_sent), st=self.st, cn=cn, pw=self.password, mn=self.mn, flag=self.flag,
                           cp=cp)

    def realtime_packet(self, t: datetime) -> Packet:
        v = self.minute_values(t.replace(second=0, microsecond=0))
        cp: dict[str, object] = {"DataTime": format_time(t)}
        for code, (val, zs, flag) in v.items():
            item = {"Rtd": _fmt(val)}
            if zs is not None:
                item["ZsRtd"] = _fmt(zs)
            item["Flag"] = flag
            cp[code] = item
        return self._packet("2011", t, cp)

    def _period_packet(self, cn: str, start: datetime, minutes: list[dict], t_sent: datetime) -> Packet:
        cp: dict[str, object] = {"DataTime": format_time(start)}
        flow = [m["a00000"][0] for m in minutes]
        seconds = 60.0
        flow_m3 = sum(f * seconds for f in flow)
        for code in minutes[0]:
            vals = [m[code][0] for m in minutes]
            zss = [m[code][1] for m in minutes if m[code][1] is not None]
            flags = [m[code][2] for m in minutes]
            item: dict[str, object] = {}
            if code == "a00000":
                item["Cou"] = _fmt(flow_m3)
            elif code in GAS:
                item["Cou"] = _fmt(sum(v * f * seconds for v, f in zip(vals, flow, strict=True)) * 1e-6, 4)
            item |= {"Min": _fmt(min(vals)), "Avg": _fmt(sum(vals) / len(vals)), "Max": _fmt(max(vals))}
            if zss:
                item |= {"ZsMin": _fmt(min(zss)), "ZsAvg": _fmt(sum(zss) / len(zss)), "ZsMax": _fmt(max(zss))}
            normal = sum(1 for f in flags if f == "N")
            # HJ 212 App. C: N when >= 75 % of the sub-values are normal, else D (here the dominant flag)
            item["Flag"] = "N" if normal >= 0.75 * len(flags) else max(set(flags) - {"N"}, key=flags.count)
            cp[code] = item
        return self._packet(cn, t_sent, cp)

    def minute_packet(self, t: datetime) -> Packet:
        t = t.replace(second=0, microsecond=0)
        return self._period_packet("2051", t, [self.minute_values(t)], t + MINUTE)

    def hour_minutes(self, start: datetime, every_min: int = 1) -> list[dict]:
        return [self.minute_values(start + i * MINUTE) for i in range(0, 60, every_min)]

    def hour_packet(self, start: datetime, every_min: int = 1) -> Packet:
        """2061 for the hour starting at ``start``: statistics of its minutes (every ``every_min``-th minute
        when a cheaper approximation will do, as for demo data)."""
        start = start.replace(minute=0, second=0, microsecond=0)
        return self._period_packet("2061", start, self.hour_minutes(start, every_min), start + HOUR)

    def hour_sample(self, start: datetime) -> tuple[float, dict[str, float], str]:
        """(O2 [%], converted concentrations [mg/m³], flag) of one representative minute of an hour: a cheap
        stand-in for long synthetic histories."""
        v = self.minute_values(start + 30 * MINUTE)
        return v["a19001"][0], {p: v[p][1] for p in GAS}, v["a19001"][2]

    def hour_samples(self, starts_s: np.ndarray) -> tuple[np.ndarray, dict[str, np.ndarray], np.ndarray]:
        """:meth:`hour_sample` of many hours at once: ``starts_s`` [s since the epoch, UTC] -> (O2 [%],
        converted concentrations [mg/m³] by factor, flags), arrays of the same values (the same counter-based
        numbers, in numpy; the transcendental functions may differ from :mod:`math` in the last bit)."""
        m = self._minute_arrays(np.atleast_1d(np.asarray(starts_s, dtype=np.int64)) + 30 * 60, gases_only=True)
        return m["o2"], {p: m[p] for p in GAS}, m["flag"]

    def hour_packets(self, starts: list[datetime], every_min: int = 1) -> list[Packet]:
        """:meth:`hour_packet` of many hours, their minute values computed at once (as :meth:`hour_samples`)."""
        starts = [t.replace(minute=0, second=0, microsecond=0) for t in starts]
        per_hour = len(range(0, 60, every_min))
        minute_s = (np.array([int(t.timestamp()) for t in starts], dtype=np.int64)[:, None]
                    + 60 * np.arange(0, 60, every_min, dtype=np.int64)[None, :]).ravel()
        values = self._minute_dicts(self._minute_arrays(minute_s, gases_only=False))
        return [self._period_packet("2061", t, values[k * per_hour:(k + 1) * per_hour], t + HOUR)
                for k, t in enumerate(starts)]

    def _minute_arrays(self, t_s: np.ndarray, *, gases_only: bool) -> dict[str, np.ndarray]:
        """:meth:`minute_values` of the minutes starting at ``t_s`` [s since the epoch, UTC], as arrays by name:
        flag, o2, load, the converted gases by factor (and with ``gases_only`` False the other factors)."""
        minute, hour = t_s // 60, t_s // 3600
        local_s = t_s + int(PROGRAMME_UTC_OFFSET.total_seconds())
        local_hour, local_minute = (local_s // 3600) % 24, (local_s // 60) % 60
        # the load of each distinct minute of the day, through math.cos as minute_values does
        keys, where = np.unique(local_hour + (minute % 60) / 60, return_inverse=True)
        load = np.array([0.85 + 0.15 * math.cos((float(h) - 6) / 24 * 2 * math.pi) for h in keys])[where]
        base = self._base_np(_K_MIN, minute)
        o2 = np.maximum(3.0, np.minimum(18.0, self.o2_pct + _gauss_np(base, 0, 0.3) - 0.8 * (load - 0.85)))
        exc = np.where(self._in_exceedance_np(hour), self.exceedance_factor, 1.0)
        calibration = (local_hour == self.calibration_hour) & (local_minute < self.calibration_minutes)
        maintenance = self._u_np(_K_MNT, hour) < self.maintenance_rate
        out = {"flag": np.where(calibration, "C", np.where(maintenance, "M", "N")), "o2": o2, "load": load}
        zs = {
            "a34013": np.maximum(0.1, self.pm_zs * (1 + _gauss_np(base, 1, 0.12))),
            "a21026": np.maximum(0.1, self.so2_zs * exc * load * (1 + _gauss_np(base, 2, 0.08))),
            "a21002": np.maximum(0.1, self.nox_zs * exc * load * (1 + _gauss_np(base, 3, 0.06))),
        }
        out |= {k: np.where(calibration, v * 0.2, v) for k, v in zs.items()}
        if not gases_only:
            out["a00000"] = self.flow_m3_s * load * (1 + _gauss_np(base, 4, 0.03))
            out["a01012"] = 45.0 + 10 * load + _gauss_np(base, 5, 0.5)
            out["a01013"] = -0.12 + _gauss_np(base, 6, 0.01)
            out["a01014"] = 6.5 + _gauss_np(base, 7, 0.2)
        return out

    def _minute_dicts(self, m: dict[str, np.ndarray]) -> list[dict[str, tuple[float, float | None, str]]]:
        """The arrays of :meth:`_minute_arrays` as :meth:`minute_values` gives each minute."""
        conv = ((21.0 - m["o2"]) / (21.0 - self.ref_o2_pct)).tolist()
        flags = m["flag"].tolist()
        zs = [m[k].tolist() for k in GAS]
        flow = m["a00000"].tolist()
        rest = [(k, m[k].tolist()) for k in ("a01012", "a01013", "a01014")]
        out = []
        for i, (o2, flag) in enumerate(zip(m["o2"].tolist(), flags, strict=True)):
            v: dict[str, tuple[float, float | None, str]] = {
                k: (z[i] * conv[i], z[i], flag) for k, z in zip(GAS, zs, strict=True)}
            v["a19001"] = (o2, None, flag)
            v["a00000"] = (flow[i], None, "N")
            v |= {k: (col[i], None, "N") for k, col in rest}
            v["a01011"] = (flow[i] / 6.0, None, "N")
            out.append(v)
        return out

    def _base_np(self, kind: int, index: np.ndarray) -> np.ndarray:
        return _mix_np(np.uint64(self._kinds[kind]) ^ index.astype(np.uint64))

    def _u_np(self, kind: int, index: np.ndarray, n: int = 0) -> np.ndarray:
        return (_mix_np(self._base_np(kind, index) ^ np.uint64(n)) >> np.uint64(11)).astype(np.float64) * _TWO_M53

    def _in_exceedance_np(self, hour: np.ndarray) -> np.ndarray:
        """:meth:`in_exceedance` of many hours (hour indices since the epoch)."""
        hit = np.zeros(hour.shape, dtype=bool)
        if self.exceedance_rate <= 0:
            return hit
        for back in range(4):
            starts = self._u_np(_K_EXC, hour - back) < self.exceedance_rate
            lasts = back < 1 + (self._u_np(_K_EXC, hour - back, 1) * 4).astype(np.int64)
            hit |= starts & lasts
        return hit

    def day_packet(self, day_start: datetime) -> Packet:
        """2031 for the (Beijing) day starting at ``day_start``; from hourly samples (one minute per hour,
        a cheap stand-in for the full day)."""
        mins = [self.minute_values(day_start + i * HOUR + 30 * MINUTE) for i in range(24)]
        return self._period_packet("2031", day_start, mins, day_start + DAY)


_M64 = 0xFFFFFFFFFFFFFFFF
_TWO_M53 = 1.0 / (1 << 53)
_K_MIN, _K_EXC, _K_MNT = 1, 2, 3


def _mix(x: int) -> int:
    """splitmix64 finaliser: a well-spread 64-bit hash of a 64-bit integer."""
    x = (x + 0x9E3779B97F4A7C15) & _M64
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _M64
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _M64
    return x ^ (x >> 31)


def _mix_np(x: np.ndarray) -> np.ndarray:
    """:func:`_mix` of every element of a uint64 array (numpy's unsigned arithmetic wraps modulo 2**64)."""
    x = np.atleast_1d(x) + np.uint64(0x9E3779B97F4A7C15)
    x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


def _gauss_np(base: np.ndarray, n: int, sigma: float) -> np.ndarray:
    """:meth:`StackModel._gauss` of every element of ``base``."""
    u1 = (_mix_np(base ^ np.uint64(2 * n)) >> np.uint64(11)).astype(np.float64) * _TWO_M53
    u1[u1 == 0] = _TWO_M53
    u2 = (_mix_np(base ^ np.uint64(2 * n + 1)) >> np.uint64(11)).astype(np.float64) * _TWO_M53
    return sigma * np.sqrt(-2.0 * np.log(u1)) * np.cos(2.0 * math.pi * u2)


def _fmt(v: float, digits: int = 3) -> str:
    return f"{v:.{digits}f}"
