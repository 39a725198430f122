"""Heat demand and heat-pump performance from Harbin's hourly weather (pure functions over arrays).

Degree-hour method: in each hour of the heating season the load is the design load scaled by
``(t_indoor − T_out)/(t_indoor − t_design)`` (zero when it is warmer than indoors). Summed over the season this gives
the season heat per W/m² of design heat index, so a building class with index ``q`` [W/m²] needs
``q × heat_gj_per_w_m2`` GJ/m² a season. An air-source heat pump's COP is evaluated hour by hour at the outdoor
temperature and weighted by the hourly load, so cold hours (low COP, high load) count as they should.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path

import numpy as np

from cleanheat.climate import HeatingSeason, read_climate
from cleanheat.planner.catalogue import CopCurve
from cleanheat.units import J_PER_GJ, S_PER_H
from cleanheat.weather.epw import WeatherYear


@dataclass(frozen=True)
class ClimateProfile:
    """The heating season of a (typical) weather year, reduced to what the planner needs."""

    indoor_c: float
    design_c: float
    season_start: tuple[int, int]  # (month, day)
    season_end: tuple[int, int]
    season_temps_c: np.ndarray  # hourly outdoor temperature in the season [°C]
    load_fraction: np.ndarray  # hourly load / design load (≥ 0; above 1 when colder than design)
    heat_gj_per_w_m2: float  # season heat per m² per W/m² of design heat index [GJ/(W/m²·m²)]
    source: str = ""

    @property
    def season_hours(self) -> int:
        """Hours in the heating season [h]."""
        return len(self.season_temps_c)

    @property
    def mean_temp_c(self) -> float:
        """Mean outdoor temperature over the season hours [°C]."""
        return float(self.season_temps_c.mean())

    @property
    def heating_degree_days(self) -> float:
        """Σ max(0, t_indoor − T_out) over the season hours / 24 [K·d]."""
        return float(np.maximum(self.indoor_c - self.season_temps_c, 0).sum() / 24.0)

    def season_heat_gj_m2(self, q_design_w_m2: float | np.ndarray) -> np.ndarray:
        """Season heat demand per m² [GJ/m²] for a design heat index [W/m²]."""
        return np.asarray(q_design_w_m2, dtype=float) * self.heat_gj_per_w_m2

    def seasonal_cop(self, curve: CopCurve) -> float:
        """Load-weighted seasonal COP [-]: Σ load / Σ (load / COP(T_h))."""
        w = self.load_fraction
        return float(w.sum() / (w / curve.cop(self.season_temps_c)).sum())

    def design_cop(self, curve: CopCurve) -> float:
        """COP [-] at the outdoor design temperature (sizes the grid connection)."""
        return float(curve.cop(self.design_c))


def season_mask(local_month: np.ndarray, local_day: np.ndarray, start: tuple[int, int],
                end: tuple[int, int]) -> np.ndarray:
    """Hours within a season running from ``start`` to ``end`` (month, day; both days included), across the new
    year (:meth:`cleanheat.climate.HeatingSeason.mask`)."""
    return HeatingSeason(*start, *end).mask(local_month, local_day)


def climate_profile(weather: WeatherYear, *, indoor_c: float, design_c: float, season_start: tuple[int, int],
                    season_end: tuple[int, int], source: str = "") -> ClimateProfile:
    """Build the profile from an hourly weather year (local standard time decides the season days); ``indoor_c``
    and ``design_c`` [°C], ``season_start``/``season_end`` (month, day), both days heated."""
    local = weather.local_time().astype("datetime64[D]")
    months = (local.astype("datetime64[M]").astype(int) % 12) + 1
    days = (local - local.astype("datetime64[M]")).astype(int) + 1
    mask = season_mask(months, days, season_start, season_end)
    temps = weather.dry_bulb_c[mask].astype(float)
    frac = np.maximum(indoor_c - temps, 0.0) / (indoor_c - design_c)
    heat = float(frac.sum() * S_PER_H / J_PER_GJ)  # GJ per (W/m²) per m²
    return ClimateProfile(indoor_c, design_c, season_start, season_end, temps, frac, heat, source)


def read_climate_yaml(path: Path) -> dict:
    """Design temperatures [°C] and season dates of ``data/<city>/climate.yaml`` (read by
    :func:`cleanheat.climate.read_climate`) as the keyword arguments of :func:`climate_profile`."""
    c = read_climate(Path(path).parent)
    return {
        "indoor_c": c.indoor_design_c,
        "design_c": c.outdoor_design_c,
        "season_start": c.season.start,
        "season_end": c.season.end,
        "source": f"{Path(path).name}: {c.design_source}; season {c.season_source}",
    }


def season_days(start: tuple[int, int], end: tuple[int, int], year: int = 2001) -> int:
    """Days [d] in a season from ``start`` to ``end`` (month, day) inclusive (non-leap year by default)."""
    s = date(year, *start)
    e = date(year + 1 if start > end else year, *end)
    return (e - s).days + 1
