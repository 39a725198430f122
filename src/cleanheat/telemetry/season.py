"""The heating season for telemetry: which instants are heated (room-minimum alarms, the demo city).

The dates are data (``data/<city>/climate.yaml``, read by :func:`cleanheat.climate.read_climate`); this module
only turns them into a test on timestamps in local time.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cleanheat.climate import HeatingSeason, read_heating_season
from cleanheat.timeutil import PROGRAMME_UTC_OFFSET_H


@dataclass(frozen=True)
class Season:
    """The heated local dates (``dates``; None: no season known, every day counts as heated, so room-minimum
    alarms stay armed) and the local time's offset from UTC [h]."""

    dates: HeatingSeason | None = None
    utc_offset_h: int = PROGRAMME_UTC_OFFSET_H

    def heating(self, month: int, day: int) -> bool:
        """Whether the local date (month, day) is heated."""
        return self.dates is None or self.dates.heating(month, day)

    def heating_at(self, ts_ms: int) -> bool:
        """Whether the instant ``ts_ms`` [ms since the epoch] falls on a heated local date."""
        d = datetime.fromtimestamp(ts_ms / 1000, UTC) + timedelta(hours=self.utc_offset_h)
        return self.heating(d.month, d.day)


def read_season(city_dir: Path) -> Season:
    """The season of ``<city_dir>/climate.yaml``."""
    return Season(read_heating_season(city_dir))
