"""Fixtures of the planner tests: the real inputs, a round-number catalogue and climate for hand computations."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from cleanheat.config import REPO_ROOT
from cleanheat.planner.areas import AreaSet, parse_area_rows
from cleanheat.planner.catalogue import Catalogue, parse_catalogue
from cleanheat.planner.demand import ClimateProfile
from cleanheat.planner.engine import Inputs, load_inputs
from cleanheat.programme.plan_data import read_plan

DATA = Path(__file__).parent / "data"
REPO_DATA = REPO_ROOT / "data"


@pytest.fixture(scope="session")
def inputs() -> Inputs:
    return load_inputs(REPO_DATA)


@pytest.fixture(scope="session")
def plan():
    return read_plan(REPO_DATA / "harbin")


@pytest.fixture(scope="session")
def hand_cat() -> Catalogue:
    return parse_catalogue((DATA / "hand_catalogue.yaml").read_text(encoding="utf-8"), "hand_catalogue.yaml",
                           (DATA / "hand_buildings.yaml").read_text(encoding="utf-8"), "hand_buildings.yaml")


@pytest.fixture(scope="session")
def hand_climate() -> ClimateProfile:
    """Two season hours: −20 °C at full load and 0 °C at half load; 0.01 GJ per season per W/m² of design load."""
    return ClimateProfile(indoor_c=18.0, design_c=-20.0, season_start=(10, 20), season_end=(4, 20),
                          season_temps_c=np.array([-20.0, 0.0]), load_fraction=np.array([1.0, 0.5]),
                          heat_gj_per_w_m2=0.01, source="test")


AREA_DEFAULTS = {"name": "", "unit_code": "u1", "area_type": "urban", "households": "100", "area_m2_b50": "10000",
                 "current_heating": "loose_coal", "network_distance_km": "2", "gas_available": "yes",
                 "gas_capacity_1e4_m3": "", "grid_zone": "", "grid_spare_mw": "100",
                 "resources": "geothermal; waste_heat; biomass_chp", "lon": "", "lat": ""}


def make_areas(cat: Catalogue, *rows: dict) -> AreaSet:
    """Areas from partial rows (defaults: 10 000 m² of the 50 W/m² class, 100 households, loose coal, 2 km)."""
    full = []
    for i, r in enumerate(rows):
        rec = AREA_DEFAULTS | {"code": f"a{i + 1}"} | {k: str(v) for k, v in r.items()}
        full.append((i + 2, rec))
    header = list(full[0][1].keys())
    return parse_area_rows(header, full, cat, file="test.csv", name="test")
