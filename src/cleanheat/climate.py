"""A city's climate and heating season, read from ``data/<city>/climate.yaml`` — the one reader of that file.

The heating season is a span of local calendar dates that may run across the new year (Harbin: 20 October to
20 April, both days heated). Every area that asks "is this day heated?" (telemetry alarms and the demo city,
the network's seasonal bins, the planner's demand profile, the emissions evidence windows) uses
:class:`HeatingSeason`; nothing holds the dates as constants.

This module imports nothing from the areas, so every area may use it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path

import numpy as np
import yaml

CLIMATE_FILE = "climate.yaml"


@dataclass(frozen=True)
class HeatingSeason:
    """The heating season by local calendar date, from (start_month, start_day) to (end_month, end_day), both
    days included; when the end comes before the start in the year the season runs across the new year."""

    start_month: int
    start_day: int
    end_month: int
    end_day: int

    @property
    def start(self) -> tuple[int, int]:
        """(month, day) of the first heated day."""
        return self.start_month, self.start_day

    @property
    def end(self) -> tuple[int, int]:
        """(month, day) of the last heated day."""
        return self.end_month, self.end_day

    @property
    def wraps(self) -> bool:
        """Whether the season runs across the new year."""
        return self.end < self.start

    def heating(self, month: int, day: int) -> bool:
        """Whether the local date (month, day) is heated."""
        md = (month, day)
        return (md >= self.start or md <= self.end) if self.wraps else (self.start <= md <= self.end)

    def mask(self, month: np.ndarray, day: np.ndarray) -> np.ndarray:
        """:meth:`heating` over arrays of local months [1..12] and days [1..31] (bool array)."""
        md = np.asarray(month) * 100 + np.asarray(day)
        s, e = self.start_month * 100 + self.start_day, self.end_month * 100 + self.end_day
        return (md >= s) | (md <= e) if s > e else (md >= s) & (md <= e)

    def season_starting(self, year: int) -> tuple[date, date]:
        """The heating season that starts in ``year``: (first day, last day), both heated."""
        end_year = year + 1 if self.end <= self.start else year
        return date(year, self.start_month, self.start_day), date(end_year, self.end_month, self.end_day)

    def window_for(self, period_end: date) -> tuple[date, date, str]:
        """The heating season containing ``period_end`` or the last one ending before it, cut at
        ``period_end``: (first day, last day inclusive, label like "2020-2021")."""
        for year in (period_end.year, period_end.year - 1, period_end.year - 2):
            s, e = self.season_starting(year)
            if s <= period_end:
                return s, min(e, period_end), f"{s.year}-{e.year}"
        raise ValueError(f"no heating season before {period_end}")  # pragma: no cover

    def heating_days(self, first: date, last: date) -> list[tuple[date, date]]:
        """The heating days inside [first, last] (both inclusive) as (first day, last day) windows, in order:
        for a calendar year the January–April part of one season and the October–December start of the next."""
        out = []
        for year in range(first.year - 1, last.year + 1):
            s, e = self.season_starting(year)
            lo, hi = max(s, first), min(e, last)
            if lo <= hi:
                out.append((lo, hi))
        return out


@dataclass(frozen=True)
class Climate:
    """What ``data/<city>/climate.yaml`` says: design temperatures [°C], the heating season, the statutory
    minimum room temperature [°C], the typical-year weather file, and where each value comes from."""

    season: HeatingSeason
    indoor_design_c: float
    outdoor_design_c: float
    statutory_min_room_c: float
    weather_file: Path | None
    season_source: str
    design_source: str


def read_climate(city_dir: Path) -> Climate:
    """Read ``<city_dir>/climate.yaml``."""
    path = Path(city_dir) / CLIMATE_FILE
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    hs = doc["heating_season"]
    design = doc["design"]
    weather = (doc.get("weather_file") or {}).get("path")
    return Climate(
        season=HeatingSeason(int(hs["start"]["month"]), int(hs["start"]["day"]), int(hs["end"]["month"]),
                             int(hs["end"]["day"])),
        indoor_design_c=float(design["indoor_design_temp_c"]["value"]),
        outdoor_design_c=float(design["outdoor_design_temp_c"]["value"]),
        statutory_min_room_c=float(doc["statutory_min_room_temp_c"]["value"]),
        weather_file=(Path(city_dir) / weather).resolve() if weather else None,
        season_source=str(hs.get("source", "")),
        design_source=str(design["outdoor_design_temp_c"].get("source", "")),
    )


def read_heating_season(city_dir: Path) -> HeatingSeason:
    """The heating season of ``<city_dir>/climate.yaml``."""
    return read_climate(city_dir).season
