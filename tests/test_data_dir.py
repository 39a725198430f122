"""Settings flow through: every rule reader takes the data directory from the settings passed to it, so pointing
``CLEANHEAT_DATA_DIR`` (or ``Settings(data_dir=...)``) at a changed copy of data/ changes every rule (issue 14,
item 4). No reader falls back to a default directory."""

from __future__ import annotations

import inspect
import shutil
from pathlib import Path

import pytest
import yaml

from cleanheat.assets.heat_sources import mw_per_t_h
from cleanheat.climate import read_climate
from cleanheat.config import REPO_ROOT, Settings
from cleanheat.emissions.hj212.codes import emissions_data_dir, read_code_tables
from cleanheat.emissions.limits import limits_path, read_limit_table
from cleanheat.emissions.processing import read_rules
from cleanheat.emissions.rollup import maintenance_rules
from cleanheat.emissions.supervision import read_supervision, supervision_path

READERS = [emissions_data_dir, read_code_tables, limits_path, read_limit_table, read_rules, supervision_path,
           read_supervision, maintenance_rules, read_climate, mw_per_t_h]


def _edit(path: Path, change) -> None:
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    change(doc)
    path.write_text(yaml.safe_dump(doc, allow_unicode=True, sort_keys=False), encoding="utf-8")


@pytest.fixture
def changed_data(tmp_path) -> Path:
    """A copy of data/ (without the large weather and network files) with one value changed per rule file."""
    data = tmp_path / "data"
    shutil.copytree(REPO_ROOT / "data", data, ignore=shutil.ignore_patterns("*.epw", "networks", "planner"))
    em = data / "emissions"

    def limit(doc):  # GB 13271 coal > 10 t/h: PM 80 -> 55 mg/m3
        s = next(s for s in doc["limit_sets"] if s["id"] == "gb13271-2014-t1-coal-gt10")
        s["limits_mg_m3"]["a34013"]["value"] = 55

    _edit(em / "limits.yaml", limit)
    _edit(em / "rules.yaml", lambda d: d["compliance"]["min_valid_hour_share"].update(value=0.6))
    _edit(em / "factors.yaml",
          lambda d: next(f for f in d["factors"] if f["code"] == "a34013").update(name_zh="颗粒物（改）"))
    _edit(em / "supervision.yaml", lambda d: d["rules"][0].update(id="changed-rule"))
    _edit(data / "harbin" / "climate.yaml", lambda d: d["heating_season"]["start"].update(day=15))
    _edit(data / "harbin" / "conversions.yaml", lambda d: d["mw_per_t_h"].update(value=0.72))
    return data


def _rules_seen(settings: Settings) -> dict:
    d = settings.data_dir
    table = read_limit_table(limits_path(d))
    return {
        "limit": table.get("gb13271-2014-t1-coal-gt10").limits["a34013"].limit_mg_m3,
        "capture": read_rules(d).min_valid_hour_share,
        "factor": read_code_tables(d).factors["a34013"].name_zh,
        "supervision": read_supervision(supervision_path(d)).rules[0].id,
        "maintenance": (maintenance_rules(d, settings.city_dir)["rules"].min_valid_hour_share,
                        maintenance_rules(d, settings.city_dir)["table"].get("gb13271-2014-t1-coal-gt10")
                        .limits["a34013"].limit_mg_m3,
                        maintenance_rules(d, settings.city_dir)["mw_per_t_h_value"]),
        "season_start": read_climate(settings.city_dir).season.start,
        "mw_per_t_h": mw_per_t_h(settings.city_dir),
    }


def test_every_rule_reader_follows_the_data_dir(changed_data, monkeypatch) -> None:
    shipped = _rules_seen(Settings(data_dir=REPO_ROOT / "data"))
    assert shipped == {"limit": 80, "capture": 0.75, "factor": "烟尘", "supervision": "coal-chp-ultra-low",
                       "maintenance": (0.75, 80, 0.7), "season_start": (10, 20), "mw_per_t_h": 0.7}
    changed = {"limit": 55, "capture": 0.6, "factor": "颗粒物（改）", "supervision": "changed-rule",
               "maintenance": (0.6, 55, 0.72), "season_start": (10, 15), "mw_per_t_h": 0.72}
    assert _rules_seen(Settings(data_dir=changed_data)) == changed
    monkeypatch.setenv("CLEANHEAT_DATA_DIR", str(changed_data))
    assert _rules_seen(Settings()) == changed  # the environment reaches the readers through Settings only
    monkeypatch.delenv("CLEANHEAT_DATA_DIR")
    assert _rules_seen(Settings(data_dir=REPO_ROOT / "data")) == shipped  # the caches are per directory


@pytest.mark.parametrize("reader", READERS, ids=lambda f: f.__name__)
def test_no_reader_has_a_default_directory(reader) -> None:
    first = next(iter(inspect.signature(reader).parameters.values()))
    assert first.default is inspect.Parameter.empty, f"{reader.__name__}({first.name}=...) has a default"
