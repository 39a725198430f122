"""Pure physics of the twin (numpy in, numpy out; SI and °C; no I/O).

* Weather compensation (quality regulation) after DOMAIN.md §5.5 (贺平/孙刚《供热工程》; the same form as the
  Modelica Buildings ``HotWaterTemperatureReset``)::

      Q̄   = (t_n − t_w) / (t_n − t'_w)
      t_g = t_n + 0.5·(t'_g + t'_h − 2·t_n)·Q̄^(1/(1+b)) + 0.5·(t'_g − t'_h)·Q̄
      t_h = t_g − Q̄·(t'_g − t'_h)

* Primary side of an indirect station, arithmetic-mean temperature difference (DOMAIN.md §5.5 [D])::

      τ1 = (t_g + t_h)/2 + Q̄·[(τ1' + τ2')/2 − (t'_g + t'_h)/2] + Q̄·(τ1' − τ2')/2,   τ2 = τ1 − Q̄·(τ1' − τ2')

* Rooms: the steady state of heat loss = emitter output, with the emitter law ``Q/Q_d = φ·(ΔT_m/ΔT_m,d)^(1+b)``:

      (t_r − t_o) − g = (t_n,d − t'_w) · φ · ((t_m − t_r) / (t_m,d − t_n,d))^(1+b)

  where ``φ`` is the emitter output factor of the room (hydraulic balance, position in the building, faults),
  ``g`` the internal and solar gains expressed in kelvin, ``t_m`` the mean water temperature. Solved by bisection.
"""

from __future__ import annotations

import numpy as np

CP_WATER_J_KG_K = 4186.0
T_ROOM_DESIGN_C = 18.0


def relative_load(t_out_c: np.ndarray | float, *, t_in_c: float = 18.0, t_design_c: float = -24.2) -> np.ndarray:
    """Relative heat load Q̄ [-], clipped to [0, 1.3]."""
    q = (t_in_c - np.asarray(t_out_c, dtype=float)) / (t_in_c - t_design_c)
    return np.clip(q, 0.0, 1.3)


def quality_curve(t_out_c: np.ndarray | float, *, supply_design_c: float, return_design_c: float,
                  emitter_b: float, t_in_c: float = 18.0,
                  t_design_c: float = -24.2) -> tuple[np.ndarray, np.ndarray]:
    """Secondary supply and return temperatures [°C] for outdoor ``t_out_c`` (constant flow)."""
    q = relative_load(t_out_c, t_in_c=t_in_c, t_design_c=t_design_c)
    tg = (t_in_c + 0.5 * (supply_design_c + return_design_c - 2 * t_in_c) * q ** (1 / (1 + emitter_b))
          + 0.5 * (supply_design_c - return_design_c) * q)
    th = tg - q * (supply_design_c - return_design_c)
    return tg, th


def primary_temperatures(q_rel: np.ndarray, sec_supply_c: np.ndarray, sec_return_c: np.ndarray, *,
                         p_supply_design_c: float, p_return_design_c: float, s_supply_design_c: float,
                         s_return_design_c: float) -> tuple[np.ndarray, np.ndarray]:
    """Primary supply and return [°C] of an indirect station (AMTD form, constant flows)."""
    t1 = ((sec_supply_c + sec_return_c) / 2
          + q_rel * ((p_supply_design_c + p_return_design_c) / 2 - (s_supply_design_c + s_return_design_c) / 2)
          + q_rel * (p_supply_design_c - p_return_design_c) / 2)
    t2 = t1 - q_rel * (p_supply_design_c - p_return_design_c)
    return t1, t2


def room_temperature(t_out_c: np.ndarray, t_mean_water_c: np.ndarray, phi: np.ndarray, *, emitter_b: float,
                     t_mean_design_c: float, gains_k: float = 1.5, t_design_c: float = -24.2,
                     iterations: int = 40) -> np.ndarray:
    """Steady-state room temperature [°C] (bisection on t_r in [t_o, t_m]); broadcasts its arguments."""
    t_o, t_m, phi = np.broadcast_arrays(np.asarray(t_out_c, float), np.asarray(t_mean_water_c, float),
                                        np.asarray(phi, float))
    n = 1.0 + emitter_b
    span = T_ROOM_DESIGN_C - t_design_c
    dtm_d = t_mean_design_c - T_ROOM_DESIGN_C
    lo = t_o.copy()
    hi = np.maximum(t_m, t_o + gains_k)
    for _ in range(iterations):
        mid = 0.5 * (lo + hi)
        emit = span * phi * (np.clip(t_m - mid, 0.0, None) / dtm_d) ** n
        loss = (mid - t_o) - gains_k
        too_cold = emit > loss  # output exceeds loss: the room would warm up
        lo = np.where(too_cold, mid, lo)
        hi = np.where(too_cold, hi, mid)
    return 0.5 * (lo + hi)


def emitter_power_w(design_power_w: np.ndarray, t_mean_water_c: np.ndarray, t_room_c: np.ndarray,
                    phi: np.ndarray, *, emitter_b: float, t_mean_design_c: float) -> np.ndarray:
    """Heat output of emitters [W] at mean water temperature and room temperature."""
    dtm = np.clip(np.asarray(t_mean_water_c) - np.asarray(t_room_c), 0.0, None)
    return design_power_w * phi * (dtm / (t_mean_design_c - T_ROOM_DESIGN_C)) ** (1.0 + emitter_b)


def ewma(series: np.ndarray, tau_steps: float) -> np.ndarray:
    """Exponentially weighted moving average (first-order lag) of a series, time constant in steps."""
    out = np.empty_like(series, dtype=float)
    a = 1.0 - np.exp(-1.0 / tau_steps)
    acc = float(series[0])
    for i, v in enumerate(series):
        acc += a * (float(v) - acc)
        out[i] = acc
    return out


def hash_noise(key: np.ndarray | int, t_ms: np.ndarray | int) -> np.ndarray:
    """Deterministic pseudo-noise in [-1, 1) from an integer key and a time (the same inputs, the same value)."""
    with np.errstate(over="ignore"):  # multiplication modulo 2^64 is the point
        x = (np.atleast_1d(np.asarray(key, dtype=np.uint64)) * np.uint64(0x9E3779B97F4A7C15)
             ^ (np.atleast_1d(np.asarray(t_ms, dtype=np.uint64)) // np.uint64(1000)) * np.uint64(0xC2B2AE3D27D4EB4F))
        x ^= x >> np.uint64(31)
        x *= np.uint64(0xBF58476D1CE4E5B9)
        x ^= x >> np.uint64(29)
    return (x >> np.uint64(11)).astype(np.float64) / float(1 << 52) - 1.0
