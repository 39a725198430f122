"""The pipe catalogue (data/pipe_catalogue.yaml): DN -> inner diameter and U' values."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

import numpy as np
import yaml


@dataclass(frozen=True)
class PipeCatalogue:
    dn: np.ndarray
    inner_diameter_m: np.ndarray
    u_preinsulated_w_per_mk: np.ndarray
    old_pipe_factor: float
    default_roughness_m: float
    source: str

    def lookup(self, dn) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per DN: (known mask, inner diameter [m], pre-insulated U' [W/(m K)]); unknown DN take the next size."""
        dn = np.asarray(dn, dtype=float)
        k = np.clip(np.searchsorted(self.dn, dn), 0, len(self.dn) - 1)
        known = self.dn[k] == dn
        return known, self.inner_diameter_m[k], self.u_preinsulated_w_per_mk[k]

    def by_inner_diameter(self, inner_diameter_m) -> tuple[np.ndarray, np.ndarray]:
        """Nearest DN and its pre-insulated U' for given inner diameters."""
        d = np.asarray(inner_diameter_m, dtype=float)
        k = np.argmin(np.abs(self.inner_diameter_m[None, :] - d[:, None]), axis=1)
        return self.dn[k], self.u_preinsulated_w_per_mk[k]


@lru_cache(maxsize=1)
def pipe_catalogue() -> PipeCatalogue:
    raw = yaml.safe_load(resources.files("cleanheat.network").joinpath("data/pipe_catalogue.yaml").read_text())
    rows = raw["dn"]
    return PipeCatalogue(
        dn=np.array([r["dn"] for r in rows], dtype=float),
        inner_diameter_m=np.array([r["inner_diameter_mm"] for r in rows]) / 1000.0,
        u_preinsulated_w_per_mk=np.array([r["u_preinsulated_w_per_mk"] for r in rows], dtype=float),
        old_pipe_factor=float(raw["old_pipe_factor"]),
        default_roughness_m=float(raw["default_roughness_mm"]) / 1000.0,
        source=raw["source"],
    )
