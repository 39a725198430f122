"""Water properties for the network solver: density, viscosity, heat capacity and enthalpy.

Two property sets share one interface (:class:`WaterTable`, piecewise-linear tables):

* :func:`iapws_water` (the default): tabulated on a 0.25 K grid from 0 to 180 °C from the IAPWS-IF97 region-1
  Gibbs equation (density, isobaric heat capacity) and the IAPWS 2008 viscosity formulation, at a fixed
  reference pressure (default 1.0 MPa; the pressure dependence of liquid water is below 0.05 % over the
  pressures of a heating network). Valid to 150 °C and beyond, which covers Chinese primary networks
  (110-130 °C supply).
* :func:`pandapipes_water`: pandapipes 0.16's own tables (linear interpolation, linear extrapolation outside
  274-368 K), for like-for-like comparison (``--pandapipes-compatible``).

The enthalpy of a table is the exact integral of its piecewise-linear heat capacity, so that
``h(T1) - h(T2) == secant_cp(T1, T2) * (T1 - T2)`` holds to rounding: the default solver mode uses it for exactly
conservative energy balances.

References: IAPWS R7-97(2012) (IF97), IAPWS R12-08 (viscosity, 2008); the verification values from both
releases are checked in ``tests/network/test_water.py``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

import numpy as np

# --- IAPWS-IF97 region 1 (liquid water): dimensionless Gibbs free energy gamma(pi, tau) ---------------------
_R_J_PER_KGK = 461.526
_P_STAR_PA = 16.53e6
_T_STAR_K = 1386.0
_IF97_R1 = np.array(
    [
        (0, -2, 0.14632971213167), (0, -1, -0.84548187169114), (0, 0, -0.37563603672040e1),
        (0, 1, 0.33855169168385e1), (0, 2, -0.95791963387872), (0, 3, 0.15772038513228),
        (0, 4, -0.16616417199501e-1), (0, 5, 0.81214629983568e-3), (1, -9, 0.28319080123804e-3),
        (1, -7, -0.60706301565874e-3), (1, -1, -0.18990068218419e-1), (1, 0, -0.32529748770505e-1),
        (1, 1, -0.21841717175414e-1), (1, 3, -0.52838357969930e-4), (2, -3, -0.47184321073267e-3),
        (2, 0, -0.30001780793026e-3), (2, 1, 0.47661393906987e-4), (2, 3, -0.44141845330846e-5),
        (2, 17, -0.72694996297594e-15), (3, -4, -0.31679644845054e-4), (3, 0, -0.28270797985312e-5),
        (3, 6, -0.85205128120103e-9), (4, -5, -0.22425281908000e-5), (4, -2, -0.65171222895601e-6),
        (4, 10, -0.14341729937924e-12), (5, -8, -0.40516996860117e-6), (8, -11, -0.12734301741641e-8),
        (8, -6, -0.17424871230634e-9), (21, -29, -0.68762131295531e-18), (23, -31, 0.14478307828521e-19),
        (29, -38, 0.26335781662795e-22), (30, -39, -0.11947622640071e-22), (31, -40, 0.18228094581404e-23),
        (32, -41, -0.93537087292458e-25),
    ]
)


def if97_region1(t_k, pressure_pa):
    """IAPWS-IF97 region 1 properties.

    Returns ``(density_kg_m3, cp_j_per_kgk, enthalpy_j_per_kg)`` for temperatures ``t_k`` [K] and pressure
    ``pressure_pa`` [Pa] (valid 273.15-623.15 K, p above saturation).
    """
    t = np.asarray(t_k, dtype=float)
    p = np.broadcast_to(np.asarray(pressure_pa, dtype=float), t.shape)
    ii, jj, nn = _IF97_R1[:, 0], _IF97_R1[:, 1], _IF97_R1[:, 2]
    pi = (p / _P_STAR_PA)[..., None]
    tau = (_T_STAR_K / t)[..., None]
    a = 7.1 - pi
    b = tau - 1.222
    g_pi = np.sum(-nn * ii * a ** (ii - 1) * b**jj, axis=-1)
    g_tau = np.sum(nn * a**ii * jj * b ** (jj - 1), axis=-1)
    g_tautau = np.sum(nn * a**ii * jj * (jj - 1) * b ** (jj - 2), axis=-1)
    pi, tau = pi[..., 0], tau[..., 0]
    v = pi * g_pi * _R_J_PER_KGK * t / p
    cp = -(tau**2) * g_tautau * _R_J_PER_KGK
    h = tau * g_tau * _R_J_PER_KGK * t
    return 1.0 / v, cp, h


_MU_H0 = np.array([1.67752, 2.20462, 0.6366564, -0.241605])
# H_ij, i = temperature exponent (rows), j = density exponent (columns); IAPWS R12-08 table 2.
_MU_H1 = np.array(
    [
        [0.520094, 0.222531, -0.281378, 0.161913, -0.0325372, 0.0, 0.0],
        [0.0850895, 0.999115, -0.906851, 0.257399, 0.0, 0.0, 0.0],
        [-1.08374, 1.88797, -0.772479, 0.0, 0.0, 0.0, 0.0],
        [-0.289555, 1.26613, -0.489837, 0.0, 0.0698452, 0.0, -0.00435673],
        [0.0, 0.0, -0.257040, 0.0, 0.0, 0.00872102, 0.0],
        [0.0, 0.120573, 0.0, 0.0, 0.0, 0.0, -0.000593264],
    ]
)


def iapws2008_viscosity(t_k, density_kg_m3):
    """Dynamic viscosity [Pa s] of water, IAPWS 2008 (without the critical enhancement, irrelevant here)."""
    tb = np.asarray(t_k, dtype=float) / 647.096
    rb = np.asarray(density_kg_m3, dtype=float) / 322.0
    mu0 = 100.0 * np.sqrt(tb) / sum(h / tb**i for i, h in enumerate(_MU_H0))
    x = 1.0 / tb - 1.0
    y = rb - 1.0
    s = np.zeros_like(tb)
    for i in range(6):
        s = s + x**i * sum(_MU_H1[i, j] * y**j for j in range(7) if _MU_H1[i, j] != 0.0)
    mu1 = np.exp(rb * s)
    return 1e-6 * mu0 * mu1


class _Knots:
    """Piecewise-linear interpolation on fixed knots with an O(1) interval lookup.

    Knots on a regular grid (the IAPWS tables; pandapipes' tables have whole-kelvin knots and are refined onto a
    1 K grid, which represents the very same piecewise-linear function) are located with one multiplication
    instead of a binary search per value (``np.searchsorted`` was the largest part of a solve's property
    evaluations on city-size networks). Outside the knots the end intervals extend linearly.
    """

    def __init__(self, x: np.ndarray, y: np.ndarray) -> None:
        x = np.asarray(x, dtype=float)
        y = np.asarray(y, dtype=float)
        if len(x) < 2 or np.any(np.diff(x) <= 0):
            raise ValueError("knots must be increasing")
        step = _common_step(x)
        if step is not None and (x[-1] - x[0]) / step <= 100_000:
            grid = x[0] + step * np.arange(int(round((x[-1] - x[0]) / step)) + 1)
            grid[-1] = x[-1]
            y = np.interp(grid, x, y)
            x = grid
            self.inv_h = 1.0 / step
        else:
            self.inv_h = None
        self.x, self.y = x, y
        self.slope = np.diff(y) / np.diff(x)
        self.n = len(x)
        self.x0 = float(x[0])

    def locate(self, t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Interval index ``k`` (clipped to the end intervals) and ``t - x[k]``."""
        if self.inv_h is not None:
            k = np.clip((t - self.x0) * self.inv_h, 0, self.n - 2).astype(np.intp)
        else:
            k = np.clip(np.searchsorted(self.x, t, side="right") - 1, 0, self.n - 2)
        return k, t - self.x[k]

    def __call__(self, t) -> np.ndarray:
        t = np.asarray(t, dtype=float)
        k, dt = self.locate(t)
        return self.y[k] + self.slope[k] * dt


def _common_step(x: np.ndarray) -> float | None:
    """The largest step that puts every knot on a regular grid from ``x[0]`` (None if there is none)."""
    d = np.diff(x)
    for j in range(1, 41):
        h = float(d.min()) / j
        r = (x - x[0]) / h
        if np.all(np.abs(r - np.round(r)) < 1e-9 * np.maximum(1.0, r)):
            return h
    return None


@dataclass(frozen=True)
class WaterTable:
    """Piecewise-linear water property tables (linear extrapolation outside the knots).

    All functions take temperatures in K and accept arrays.
    """

    name: str
    density_t_k: np.ndarray
    density_kg_m3: np.ndarray
    viscosity_t_k: np.ndarray
    viscosity_pa_s: np.ndarray
    cp_t_k: np.ndarray
    cp_j_per_kgk: np.ndarray
    valid_t_min_k: float
    valid_t_max_k: float

    def __post_init__(self) -> None:
        object.__setattr__(self, "_rho", _Knots(self.density_t_k, self.density_kg_m3))
        object.__setattr__(self, "_eta", _Knots(self.viscosity_t_k, self.viscosity_pa_s))
        object.__setattr__(self, "_cp", _Knots(self.cp_t_k, self.cp_j_per_kgk))
        x, y = self._cp.x, self._cp.y  # (refined) knots of the heat capacity
        object.__setattr__(self, "_hk", np.concatenate([[0.0], np.cumsum(0.5 * (y[1:] + y[:-1]) * np.diff(x))]))

    def density(self, t_k) -> np.ndarray:
        """Density [kg/m³]."""
        return self._rho(t_k)

    def viscosity(self, t_k) -> np.ndarray:
        """Dynamic viscosity [Pa s]."""
        return self._eta(t_k)

    def heat_capacity(self, t_k) -> np.ndarray:
        """Isobaric heat capacity [J/(kg K)]."""
        return self._cp(t_k)

    # enthalpy as the exact integral of the piecewise-linear cp (with linear extrapolation at both ends)
    def enthalpy(self, t_k) -> np.ndarray:
        """Specific enthalpy [J/kg] relative to the first cp knot (only differences are meaningful)."""
        t = np.asarray(t_k, dtype=float)
        c = self._cp
        k, dt = c.locate(t)
        return self._hk[k] + dt * (c.y[k] + 0.5 * c.slope[k] * dt)

    def secant_cp(self, t1_k, t2_k) -> np.ndarray:
        """(h(T1) - h(T2)) / (T1 - T2) [J/(kg K)], cp at the mean temperature where T1 == T2."""
        t1 = np.asarray(t1_k, dtype=float)
        t2 = np.asarray(t2_k, dtype=float)
        d = t1 - t2
        small = np.abs(d) < 1e-6
        sec = (self.enthalpy(t1) - self.enthalpy(t2)) / np.where(small, 1.0, d)
        if small.any():
            sec = np.where(small, self.heat_capacity(0.5 * (t1 + t2)), sec)
        return sec

    def cp_point(self, convention: str, t_k) -> np.ndarray:
        """Per-temperature part of a heat-capacity pair: enthalpy (``secant``) or cp (``mean``)."""
        return self.enthalpy(t_k) if convention == "enthalpy" else self.heat_capacity(t_k)

    def cp_from_points(self, convention: str, t1, v1, t2, v2) -> np.ndarray:
        """:meth:`secant_cp` / :meth:`mean_cp` from values of :meth:`cp_point` evaluated beforehand (so that a
        temperature shared by many pairs, such as a node's, is evaluated once)."""
        if convention != "enthalpy":
            return 0.5 * (v1 + v2)
        d = t1 - t2
        small = np.abs(d) < 1e-6
        sec = (v1 - v2) / np.where(small, 1.0, d)
        if small.any():
            sec[small] = self.heat_capacity(0.5 * (t1[small] + t2[small]))
        return sec

    def mean_cp(self, t1_k, t2_k) -> np.ndarray:
        """Arithmetic mean of cp(T1) and cp(T2) [J/(kg K)] (pandapipes' convention)."""
        return 0.5 * (self.heat_capacity(t1_k) + self.heat_capacity(t2_k))


@lru_cache(maxsize=4)
def iapws_water(pressure_pa: float = 1.0e6, step_k: float = 0.25) -> WaterTable:
    """Water from IAPWS-IF97 region 1 and IAPWS 2008 viscosity, tabulated 273.15-453.15 K (0-180 °C)."""
    t = np.arange(273.15, 453.15 + step_k / 2, step_k)
    rho, cp, _h = if97_region1(t, pressure_pa)
    mu = iapws2008_viscosity(t, rho)
    return WaterTable(
        name=f"IAPWS-IF97/IAPWS-2008 at {pressure_pa / 1e6:g} MPa",
        density_t_k=t, density_kg_m3=rho, viscosity_t_k=t, viscosity_pa_s=mu, cp_t_k=t, cp_j_per_kgk=cp,
        valid_t_min_k=273.15, valid_t_max_k=453.15,
    )


@lru_cache(maxsize=1)
def pandapipes_water() -> WaterTable:
    """pandapipes 0.16's water tables (vendored under the BSD-3 licence, see data/PANDAPIPES_LICENSE.txt)."""
    raw = json.loads(resources.files("cleanheat.network").joinpath("data/pandapipes_water.json").read_text())

    def arr(name, key):
        return np.asarray(raw[name][key], dtype=float)

    return WaterTable(
        name="pandapipes 0.16 water tables",
        density_t_k=arr("density", "t_k"), density_kg_m3=arr("density", "value"),
        viscosity_t_k=arr("viscosity", "t_k"), viscosity_pa_s=arr("viscosity", "value"),
        cp_t_k=arr("heat_capacity", "t_k"), cp_j_per_kgk=arr("heat_capacity", "value"),
        valid_t_min_k=274.0, valid_t_max_k=368.0,
    )
