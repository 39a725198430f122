"""The measurement-point catalogue (data/telemetry/points.yaml): default quantity, unit and valid range by key."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import yaml

from cleanheat.errors import InputError, InputIssue


@dataclass(frozen=True)
class PointSpec:
    key: str
    name_zh: str
    name_en: str
    quantity: str
    unit: str
    min_value: float
    max_value: float
    stuck_after_s: int | None
    cumulative: bool = False


def catalogue_path(data_dir: Path) -> Path:
    return Path(data_dir) / "telemetry" / "points.yaml"


@lru_cache(maxsize=4)
def _read(path: str) -> dict[str, PointSpec]:
    try:
        raw = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
        out = {}
        for key, v in raw["points"].items():
            out[key] = PointSpec(key=key, name_zh=v["name_zh"], name_en=v.get("name_en", ""),
                                 quantity=v["quantity"], unit=v["unit"], min_value=float(v["min"]),
                                 max_value=float(v["max"]), stuck_after_s=v.get("stuck_after_s"),
                                 cumulative=bool(v.get("cumulative", False)))
        return out
    except (OSError, KeyError, TypeError, ValueError, yaml.YAMLError) as exc:
        raise InputError(f"{path}: bad point catalogue", [InputIssue(str(exc), file=str(path))]) from exc


def read_point_catalogue(data_dir: Path) -> dict[str, PointSpec]:
    """Point specs by key, read once per file."""
    return _read(str(catalogue_path(data_dir)))
