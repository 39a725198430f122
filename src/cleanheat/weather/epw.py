"""Read EnergyPlus weather (EPW) files into arrays.

EPW rows are hourly; field ``hour`` is 1..24 and labels the hour *ending* at that time, in local standard time
(the ``LOCATION`` line gives the offset, +8 h for Harbin). ``read_epw`` returns the start of each hour in UTC.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import numpy as np

from cleanheat.errors import InputError, InputIssue

# Column positions (0-based) in an EPW data row (EnergyPlus Auxiliary Programs, "Weather Converter").
_COL = {"dry_bulb_c": 6, "dew_point_c": 7, "rel_humidity_pct": 8, "pressure_pa": 9, "ghi_w_m2": 13,
        "wind_dir_deg": 20, "wind_speed_m_s": 21}


@dataclass(frozen=True)
class WeatherYear:
    """Hourly weather of one (typical) year. Arrays have one value per hour (8760)."""

    station: str
    latitude_deg: float
    longitude_deg: float
    elevation_m: float
    utc_offset_h: float
    time_utc: np.ndarray  # datetime64[s], start of each hour, UTC
    dry_bulb_c: np.ndarray
    dew_point_c: np.ndarray
    rel_humidity_pct: np.ndarray
    pressure_pa: np.ndarray
    ghi_w_m2: np.ndarray
    wind_speed_m_s: np.ndarray
    wind_dir_deg: np.ndarray
    ground_temp_c: dict[float, np.ndarray]  # depth [m] -> 12 monthly means
    source_year: np.ndarray  # the year each month was taken from (typical-year files mix years)

    @property
    def hours(self) -> int:
        return len(self.dry_bulb_c)

    def local_time(self) -> np.ndarray:
        return self.time_utc + np.timedelta64(int(self.utc_offset_h * 3600), "s")

    def daily_mean_c(self) -> np.ndarray:
        """Daily mean dry-bulb temperature [°C] by local calendar day (365 values)."""
        n = self.hours // 24
        return self.dry_bulb_c[: n * 24].reshape(n, 24).mean(axis=1)


def read_epw(path: Path | str) -> WeatherYear:
    """Parse an EPW file. Malformed content raises InputError naming the line and field."""
    path = Path(path)
    lines = path.read_text(encoding="latin-1").splitlines()
    header = {}
    for i, line in enumerate(lines[:8]):
        key = line.split(",", 1)[0]
        header[key] = (i, next(csv.reader([line])))
    if "LOCATION" not in header:
        raise InputError(f"{path}: not an EPW file", [InputIssue("no LOCATION line", file=str(path), row=1)])
    loc = header["LOCATION"][1]
    try:
        lat, lon, tz, elev = float(loc[6]), float(loc[7]), float(loc[8]), float(loc[9])
    except (IndexError, ValueError) as exc:
        raise InputError(f"{path}: bad LOCATION line", [InputIssue(str(exc), file=str(path), row=1)]) from exc
    ground: dict[float, np.ndarray] = {}
    if "GROUND TEMPERATURES" in header:
        g = header["GROUND TEMPERATURES"][1]
        n, pos = int(g[1]), 2
        for _ in range(n):
            depth = float(g[pos])
            ground[depth] = np.array([float(v) for v in g[pos + 4: pos + 16]])
            pos += 16
    data_rows = lines[8:]
    if len(data_rows) < 8760:
        raise InputError(f"{path}: expected 8760 hourly rows", [InputIssue(f"found {len(data_rows)}", file=str(path))])
    cols = {k: np.empty(len(data_rows)) for k in _COL}
    years = np.empty(len(data_rows), dtype=int)
    times = np.empty(len(data_rows), dtype="datetime64[s]")
    offset = timedelta(hours=tz)
    local_tz = timezone(offset)
    base_year = 2001  # a non-leap year to lay the typical year on (EPW typical years have 8760 rows)
    for i, line in enumerate(data_rows):
        parts = line.split(",")
        try:
            year, month, day, hour = int(parts[0]), int(parts[1]), int(parts[2]), int(parts[3])
            start_local = datetime(base_year, month, day, tzinfo=local_tz) + timedelta(hours=hour - 1)
            times[i] = np.datetime64(start_local.astimezone(UTC).replace(tzinfo=None), "s")
            years[i] = year
            for k, c in _COL.items():
                cols[k][i] = float(parts[c])
        except (IndexError, ValueError) as exc:
            raise InputError(f"{path}: bad data row", [InputIssue(str(exc), file=str(path), row=i + 9)]) from exc
    return WeatherYear(
        station=loc[1], latitude_deg=lat, longitude_deg=lon, elevation_m=elev, utc_offset_h=tz, time_utc=times,
        dry_bulb_c=cols["dry_bulb_c"], dew_point_c=cols["dew_point_c"], rel_humidity_pct=cols["rel_humidity_pct"],
        pressure_pa=cols["pressure_pa"], ghi_w_m2=cols["ghi_w_m2"], wind_speed_m_s=cols["wind_speed_m_s"],
        wind_dir_deg=cols["wind_dir_deg"], ground_temp_c=ground, source_year=years,
    )


def harbin_epw_path(data_dir: Path) -> Path:
    return data_dir / "weather" / "CHN_Heilongjiang.Harbin.509530_CSWD.epw"
