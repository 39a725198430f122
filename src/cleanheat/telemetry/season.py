"""The heating season as data (data/<city>/climate.yaml): which local dates are heated."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import yaml


@dataclass(frozen=True)
class Season:
    """Heating season by local calendar date; Harbin: 20 Oct - 20 Apr (《哈尔滨市城市供热办法》)."""

    start_month: int = 10
    start_day: int = 20
    end_month: int = 4
    end_day: int = 20
    utc_offset_h: int = 8

    def heating(self, month: int, day: int) -> bool:
        md = (month, day)
        return md >= (self.start_month, self.start_day) or md < (self.end_month, self.end_day)

    def heating_at(self, ts_ms: int) -> bool:
        d = datetime.fromtimestamp(ts_ms / 1000, UTC) + timedelta(hours=self.utc_offset_h)
        return self.heating(d.month, d.day)


def read_season(city_dir: Path) -> Season:
    doc = yaml.safe_load((Path(city_dir) / "climate.yaml").read_text(encoding="utf-8"))["heating_season"]
    return Season(doc["start"]["month"], doc["start"]["day"], doc["end"]["month"], doc["end"]["day"])
