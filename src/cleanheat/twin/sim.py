"""The city simulator: readings of every device at any time, driven by Harbin's hourly weather.

Everything is a pure function of (city, weather, anchor, faults, time): a replay of any window yields exactly the
same readings, which is what makes "kill the ingest worker and restart it" checkable to the last value.

Per hour (of the weather file) the simulator computes station temperatures from the weather-compensation curve,
room temperatures and emitter powers of every building and household (``twin.model``); samples between hours
interpolate linearly and add small deterministic sensor noise. Registers (heat meters) integrate the hourly
power. Faults change what devices report: a stuck sensor repeats one value, a leak drains the secondary
pressure, a lost link silences a device, an under-heated building gets too little heat (its rooms cool with
the building's time constant).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache

import numpy as np

from cleanheat.telemetry.season import Season
from cleanheat.timeutil import PROGRAMME_UTC_OFFSET_H
from cleanheat.twin import model
from cleanheat.twin.city import (
    CitySpec,
)
from cleanheat.weather.epw import WeatherYear

HOUR_MS = 3_600_000
YEAR_H = 8760
LOCAL_OFFSET_MS = PROGRAMME_UTC_OFFSET_H * HOUR_MS  # Harbin, UTC+8 (no daylight saving)
FAULT_KINDS = ("stuck", "leak", "lost_link", "underheat")


@dataclass(frozen=True)
class Fault:
    """An injected fault. ``target``: ``DEVICE:point`` (stuck), a station code (leak), a device code
    (lost_link) or a building code (underheat). Active in [start_ms, end_ms)."""

    kind: str
    target: str
    start_ms: int
    end_ms: int | None = None

    def active(self, t_ms: int) -> bool:
        return t_ms >= self.start_ms and (self.end_ms is None or t_ms < self.end_ms)


class CitySim:
    """Readings of a city. ``anchor_ms`` and ``weather_start`` fix how time maps onto the weather year:
    without ``weather_start`` a time uses the weather of the same local calendar hour; with ``weather_start``
    ("MM-DD") the anchor maps to that date's local midnight and time runs on from there."""

    GAINS_K = 1.5
    TARGET_ROOM_C = 20.0
    #: emitters are sized with a margin over the 18 °C design load (common practice [K])
    EMITTER_MARGIN = 1.15
    CTRL_TAU_H = 3.0
    ENVELOPE_TAU_H = 8.0
    UNDERHEAT_PHI = 0.7
    UNDERHEAT_TAU_H = 2.0

    def __init__(self, spec: CitySpec, weather: WeatherYear, *, anchor_ms: int, weather_start: str | None = None,
                 faults: tuple[Fault, ...] | list[Fault] = (), season: Season | None = None) -> None:
        self.spec = spec
        self.weather = weather
        self.anchor_ms = anchor_ms - anchor_ms % HOUR_MS
        self.faults = tuple(faults)
        for f in self.faults:
            if f.kind not in FAULT_KINDS:
                raise ValueError(f"unknown fault kind {f.kind!r} (one of {', '.join(FAULT_KINDS)})")
        self.season = season = season or Season()
        local = weather.local_time()
        months = local.astype("datetime64[M]").astype(int) % 12 + 1
        days = (local.astype("datetime64[D]") - local.astype("datetime64[M]")).astype(int) + 1
        self._heating = np.array([season.heating(int(m), int(d)) for m, d in zip(months, days, strict=True)])
        if weather_start:
            mm, dd = (int(x) for x in weather_start.split("-"))
            self._pos0 = int(np.nonzero((months == mm) & (days == dd))[0][0])
        else:
            self._pos0 = self._calendar_pos(self.anchor_ms)
        t = np.concatenate([weather.dry_bulb_c, weather.dry_bulb_c])  # two years: the lag wraps round
        self._t_ctrl = model.ewma(t, self.CTRL_TAU_H)[YEAR_H:]
        self._t_env = model.ewma(t, self.ENVELOPE_TAU_H)[YEAR_H:]
        self._init_city()
        self._energy = self._hourly_energy()

    # --- time -> weather position ------------------------------------------------------------------------

    def _calendar_pos(self, t_ms: int) -> int:
        d = datetime.fromtimestamp((t_ms + LOCAL_OFFSET_MS) / 1000, UTC)
        day = min(d.timetuple().tm_yday, 365) if not (d.month == 2 and d.day == 29) else 59
        if d.month > 2 and d.year % 4 == 0:
            day -= 1  # the typical year has no 29 February
        return (day - 1) * 24 + d.hour

    def u(self, t_ms: int | np.ndarray) -> np.ndarray:
        """Continuous weather-hour coordinate of ``t_ms`` (counts on past the end of the year)."""
        return self._pos0 + (np.asarray(t_ms, dtype=np.int64) - self.anchor_ms) / HOUR_MS

    def outdoor_c(self, t_ms: int) -> float:
        u = float(self.u(t_ms))
        i = int(np.floor(u))
        f = u - i
        a, b = self.weather.dry_bulb_c[i % YEAR_H], self.weather.dry_bulb_c[(i + 1) % YEAR_H]
        return float(a + f * (b - a))

    # --- the city's fixed arrays -------------------------------------------------------------------------

    def _init_city(self) -> None:
        spec = self.spec
        st = spec.stations
        self._st_sup_d = np.array([s.s_supply_design_c for s in st])
        self._st_ret_d = np.array([s.s_return_design_c for s in st])
        self._st_b = np.array([0.1 if s.emitter == "floor" else 0.3 for s in st])
        self._st_design_kw = np.array([s.design_load_kw for s in st])
        self._b_station = np.array([b.station_index for b in spec.buildings], dtype=int)
        self._b_area = np.array([b.area_m2 for b in spec.buildings])
        self._b_design_w = np.array([b.area_m2 * b.heat_index_w_m2 for b in spec.buildings])
        self._b_phi = np.array([b.phi for b in spec.buildings]) * self.EMITTER_MARGIN
        self._h_building = np.array([h.building_index for h in spec.households], dtype=int)
        self._h_phi = np.array([h.phi for h in spec.households])
        self._h_area = np.array([h.area_m2 for h in spec.households])
        # share of the building's heat each household meters: its area weighted by its emitter factor
        w = self._h_area * self._h_phi
        tot = np.bincount(self._h_building, weights=w, minlength=len(spec.buildings))
        self._h_share = w / np.where(tot[self._h_building] > 0, tot[self._h_building], 1.0)
        self._key = {code: i for i, code in enumerate(d[0] for d in spec.devices())}
        self._b_index = {b.code: b.index for b in spec.buildings}
        self._s_index = {s.code: s.index for s in spec.stations}
        # meters were installed long ago: their registers start from a per-meter offset
        self._offset_b_gj = 500 + 4000 * (model.hash_noise(np.arange(len(spec.buildings)) + 7, 0) + 1)
        self._offset_s_gj = 20000 + 50000 * (model.hash_noise(np.arange(len(st)) + 11, 0) + 1)
        self._offset_h_kwh = 2000 + 20000 * (model.hash_noise(np.arange(len(spec.households)) + 13, 0) + 1)

    def _station_temps(self, t_ctrl: np.ndarray, heating: bool) -> tuple[np.ndarray, np.ndarray]:
        if not heating:
            n = len(self._st_sup_d)
            return np.full(n, 24.0), np.full(n, 23.0)
        sup, ret = model.quality_curve(t_ctrl, supply_design_c=self._st_sup_d, return_design_c=self._st_ret_d,
                                       emitter_b=self._st_b, t_in_c=self.TARGET_ROOM_C)
        return sup, ret

    def _underheat_factor(self, t_ms: int) -> np.ndarray:
        f = np.ones(len(self.spec.buildings))
        for fault in self.faults:
            if fault.kind != "underheat" or t_ms < fault.start_ms:
                continue
            i = self._b_index.get(fault.target)
            if i is None:
                continue
            on_h = (min(t_ms, fault.end_ms or t_ms) - fault.start_ms) / HOUR_MS
            drop = (1 - self.UNDERHEAT_PHI) * (1 - np.exp(-on_h / self.UNDERHEAT_TAU_H))
            if fault.end_ms is not None and t_ms >= fault.end_ms:  # recovering
                drop *= np.exp(-(t_ms - fault.end_ms) / HOUR_MS / self.UNDERHEAT_TAU_H)
            f[i] *= 1 - drop
        return f

    @lru_cache(maxsize=512)  # noqa: B019 - one simulator per run; the cache is its own
    def hour_state(self, hour_abs: int) -> dict[str, np.ndarray]:
        """The city at the start of absolute hour ``hour_abs`` (ms // 3.6e6)."""
        t_ms = hour_abs * HOUR_MS
        i = int(np.floor(self.u(t_ms))) % YEAR_H
        heating = bool(self._heating[i])
        t_out = float(self.weather.dry_bulb_c[i])
        t_env = float(self._t_env[i])
        sup, ret = self._station_temps(np.full(len(self._st_sup_d), self._t_ctrl[i]), heating)
        st = self._b_station
        tm_b = (sup[st] + ret[st]) / 2
        tm_d = ((self._st_sup_d + self._st_ret_d) / 2)[st]
        b_exp = self._st_b[st]
        phi_b = self._b_phi * self._underheat_factor(t_ms) * (1.0 if heating else 0.0)
        tr_b = model.room_temperature(t_env, tm_b, phi_b, emitter_b=b_exp, t_mean_design_c=tm_d,
                                      gains_k=self.GAINS_K)
        p_b = model.emitter_power_w(self._b_design_w, tm_b, tr_b, phi_b, emitter_b=b_exp, t_mean_design_c=tm_d)
        hb = self._h_building
        tr_h = model.room_temperature(t_env, tm_b[hb], phi_b[hb] * self._h_phi, emitter_b=b_exp[hb],
                                      t_mean_design_c=tm_d[hb], gains_k=self.GAINS_K)
        p_s = np.bincount(st, weights=p_b, minlength=len(sup)) * 1.03  # 3 % losses in the secondary network
        q_rel = p_s / (self._st_design_kw * 1000)
        p_sup, p_ret = model.primary_temperatures(np.clip(q_rel, 0.15, 1.3), sup, ret, p_supply_design_c=130.0,
                                                  p_return_design_c=70.0, s_supply_design_c=self._st_sup_d,
                                                  s_return_design_c=self._st_ret_d)
        # a building's return: lower flow (φ < 1) cools the water further
        ret_b = np.clip(sup[st] - (sup[st] - ret[st]) / np.sqrt(np.clip(phi_b / self._b_phi, 0.2, 2)),
                        tr_b + 1.0, sup[st] - 0.5)
        dt_s = np.clip(sup - ret, 1.0, None)
        return {
            "t_out": np.array([t_out]), "s_sup": sup, "s_ret": ret, "p_sup": p_sup, "p_ret": p_ret,
            "p_s_kw": p_s / 1000, "s_flow": p_s / (model.CP_WATER_J_KG_K * dt_s),
            "p_flow": p_s / (model.CP_WATER_J_KG_K * np.clip(p_sup - p_ret, 2.0, None)),
            "tr_b": tr_b, "p_b_kw": p_b / 1000, "b_sup": sup[st] - 0.3, "b_ret": ret_b,
            "b_flow": p_b / (model.CP_WATER_J_KG_K * np.clip(sup[st] - 0.3 - ret_b, 1.0, None)),
            "tr_h": tr_h,
        }

    def _hourly_energy(self) -> dict[str, np.ndarray]:
        """Hourly heat of every building over the weather year (no faults) [J], and its running sums."""
        n_b = len(self.spec.buildings)
        t_ctrl, t_env = self._t_ctrl[:, None], self._t_env[:, None]
        st = self._b_station
        sup, ret = model.quality_curve(t_ctrl, supply_design_c=self._st_sup_d, return_design_c=self._st_ret_d,
                                       emitter_b=self._st_b, t_in_c=self.TARGET_ROOM_C)
        tm_b = (sup[:, st] + ret[:, st]) / 2
        tm_d = ((self._st_sup_d + self._st_ret_d) / 2)[st]
        phi = self._b_phi[None, :] * self._heating[:, None]
        tr = model.room_temperature(t_env, tm_b, phi, emitter_b=self._st_b[st], t_mean_design_c=tm_d,
                                    gains_k=self.GAINS_K)
        e_j = model.emitter_power_w(self._b_design_w, tm_b, tr, phi, emitter_b=self._st_b[st],
                                    t_mean_design_c=tm_d) * 3600.0
        cum = np.vstack([np.zeros((1, n_b)), np.cumsum(e_j, axis=0)])
        return {"hour_j": e_j, "cum_j": cum}

    def building_energy_j(self, t_ms: np.ndarray | int) -> np.ndarray:
        """Heat delivered to each building since the anchor's weather-year start [J] (monotone in time)."""
        u = float(self.u(t_ms))
        k = int(np.floor(u))
        year, i = divmod(k, YEAR_H)
        e = self._energy
        return year * e["cum_j"][YEAR_H] + e["cum_j"][i] + (u - k) * e["hour_j"][i]

    # --- samples -----------------------------------------------------------------------------------------

    def _interp(self, t_ms: int) -> dict[str, np.ndarray]:
        h = t_ms // HOUR_MS
        a, b = self.hour_state(h), self.hour_state(h + 1)
        f = (t_ms - h * HOUR_MS) / HOUR_MS
        return {k: a[k] + f * (b[k] - a[k]) for k in a}

    def _noise(self, device_code: str, slot: int, t_ms: int, scale: float) -> float:
        return float(model.hash_noise(self._key[device_code] * 64 + slot, t_ms)[0]) * scale

    def _leak_kpa(self, station_code: str, t_ms: int) -> float:
        drop = 0.0
        for f in self.faults:
            if f.kind == "leak" and f.target == station_code and t_ms >= f.start_ms:
                minutes = (min(t_ms, f.end_ms or t_ms) - f.start_ms) / 60000
                d = min(180.0, 4.0 * minutes)
                if f.end_ms is not None and t_ms >= f.end_ms:  # repaired: make-up refills in ~20 min
                    d *= max(0.0, 1 - (t_ms - f.end_ms) / 1_200_000)
                drop += d
        return drop

    def device_values(self, device_code: str, kind: str, t_ms: int) -> dict[str, float]:
        """The values a device reports at ``t_ms`` (before stuck faults)."""
        s = self._interp(t_ms)
        nz = self._noise
        if kind == "weather_station":
            return {"outdoor_temp_c": round(self.outdoor_c(t_ms) + nz(device_code, 0, t_ms, 0.1), 2)}
        if kind == "station_controller":
            i = self._s_index[device_code[:-2]]
            leak = self._leak_kpa(device_code[:-2], t_ms)
            e_gj = float(self.building_energy_j(t_ms)[self._b_station == i].sum()) * 1.03 / 1e9
            return {
                "p_supply_temp_c": round(float(s["p_sup"][i]) + nz(device_code, 1, t_ms, 0.3), 2),
                "p_return_temp_c": round(float(s["p_ret"][i]) + nz(device_code, 2, t_ms, 0.3), 2),
                "s_supply_temp_c": round(float(s["s_sup"][i]) + nz(device_code, 3, t_ms, 0.2), 2),
                "s_return_temp_c": round(float(s["s_ret"][i]) + nz(device_code, 4, t_ms, 0.2), 2),
                "p_flow_kg_s": round(max(0.0, float(s["p_flow"][i]) * (1 + nz(device_code, 5, t_ms, 0.004))), 3),
                "s_flow_kg_s": round(max(0.0, float(s["s_flow"][i]) * (1 + nz(device_code, 6, t_ms, 0.004))), 3),
                "s_supply_pressure_kpa": round(450.0 - leak + nz(device_code, 7, t_ms, 2.0), 1),
                "s_return_pressure_kpa": round(max(5.0, 250.0 - leak + nz(device_code, 8, t_ms, 2.0)), 1),
                "heat_power_kw": round(max(0.0, float(s["p_s_kw"][i]) * (1 + nz(device_code, 9, t_ms, 0.004))), 1),
                "heat_energy_gj": round(float(self._offset_s_gj[i]) + e_gj, 3),
            }
        base = device_code[:-2]
        if kind == "heat_meter" and base in self._b_index:
            i = self._b_index[base]
            return {
                "supply_temp_c": round(float(s["b_sup"][i]) + nz(device_code, 1, t_ms, 0.2), 2),
                "return_temp_c": round(float(s["b_ret"][i]) + nz(device_code, 2, t_ms, 0.2), 2),
                "flow_kg_s": round(max(0.0, float(s["b_flow"][i]) * (1 + nz(device_code, 3, t_ms, 0.004))), 3),
                "heat_power_kw": round(max(0.0, float(s["p_b_kw"][i]) * (1 + nz(device_code, 4, t_ms, 0.004))), 2),
                "heat_energy_gj": round(float(self._offset_b_gj[i] + self.building_energy_j(t_ms)[i] / 1e9), 4),
            }
        h = self._h_index(base)
        if kind == "room_sensor":
            return {"room_temp_c": round(float(s["tr_h"][h]) + nz(device_code, 1, t_ms, 0.15), 2)}
        b = self._h_building[h]
        e_kwh = self.building_energy_j(t_ms)[b] * self._h_share[h] / 3.6e6
        return {"heat_energy_kwh": round(float(self._offset_h_kwh[h] + e_kwh), 2)}

    def _h_index(self, code: str) -> int:
        if not hasattr(self, "_hh_index"):
            self._hh_index = {h.code: h.index for h in self.spec.households}
        return self._hh_index[code]

    def _silenced(self, device_code: str, t_ms: int) -> bool:
        return any(f.kind == "lost_link" and f.target == device_code and f.active(t_ms) for f in self.faults)

    def _stuck(self, device_code: str, t_ms: int) -> list[Fault]:
        return [f for f in self.faults if f.kind == "stuck" and f.target.split(":")[0] == device_code
                and f.active(t_ms)]

    def samples(self, t0_ms: int, t1_ms: int) -> list[tuple[str, int, dict[str, float]]]:
        """Every reading due in [t0_ms, t1_ms): (device code, ts_ms, {point: value}), in time order."""
        out = []
        for code, kind, _keys, interval_s in self.spec.devices():
            step = interval_s * 1000
            phase = 0 if kind == "station_controller" else (self._key[code] * 7919 % interval_s) * 1000
            first = ((t0_ms - phase + step - 1) // step) * step + phase
            for ts in range(first, t1_ms, step):
                if self._silenced(code, ts):
                    continue
                values = self.device_values(code, kind, ts)
                for f in self._stuck(code, ts):
                    key = f.target.split(":", 1)[1]
                    start = ((f.start_ms - phase + step - 1) // step) * step + phase
                    values[key] = self.device_values(code, kind, start)[key]
                out.append((code, ts, values))
        out.sort(key=lambda r: r[1])
        return out

    def device_kind(self, code: str) -> str:
        return next(d[1] for d in self.spec.devices() if d[0] == code)
