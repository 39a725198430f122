"""Plug-in contracts (cleanheat.plugins): discovered modules keep theirs, and a misspelt name fails loudly."""

from __future__ import annotations

import importlib
import sys
from types import ModuleType

import pytest
import typer
from fastapi import APIRouter

from cleanheat.cli import main as cli_main
from cleanheat.cli.core import CONTRACTS, area_modules
from cleanheat.plugins import PluginContractError
from cleanheat.web.app import ROUTES_CONTRACT, discover_routers
from cleanheat.web.nav import NavItem


def test_every_discovered_module_keeps_its_contract() -> None:
    assert {m.__name__.rsplit(".", 1)[1] for m in discover_routers()} >= {"programme", "emissions", "home"}
    assert "cleanheat.programme.bootstrap" in {m.__name__ for m in area_modules("bootstrap")}
    demos = [m.__name__ for m in area_modules("demo")]
    assert "cleanheat.programme.demo" in demos and "cleanheat.emissions.demo" in demos
    assert {g.name for g in cli_main.app.registered_groups} >= {"programme", "emissions", "telemetry"}


@pytest.fixture
def fake_city(tmp_path, monkeypatch):
    """A package ``fakecity`` with one area ``roads``; the test writes the area's demo.py."""
    area = tmp_path / "fakecity" / "roads"
    area.mkdir(parents=True)
    (tmp_path / "fakecity" / "__init__.py").write_text("")
    (area / "__init__.py").write_text("")
    monkeypatch.syspath_prepend(str(tmp_path))
    yield area
    for name in [n for n in sys.modules if n == "fakecity" or n.startswith("fakecity.")]:
        del sys.modules[name]


def _discover(area, text: str) -> list[ModuleType]:
    (area / "demo.py").write_text(text)
    importlib.invalidate_caches()
    return area_modules("demo", importlib.import_module("fakecity"))


def test_a_kept_contract_is_discovered(fake_city) -> None:
    found = _discover(fake_city, "ORDER = 5\n\ndef load_demo(session, settings):\n    return 'ok'\n")
    assert [m.__name__ for m in found] == ["fakecity.roads.demo"]


@pytest.mark.parametrize(("text", "message"), [
    # the loader misspelt: it would never run
    ("ORDER = 5\n\ndef load_dmeo(session, settings):\n    return ''\n",
     ["missing required 'load_demo'", "'load_dmeo' looks like a misspelling of 'load_demo'"]),
    # the order misspelt: the area would silently load last
    ("ORDRE = 5\n\ndef load_demo(session, settings):\n    return ''\n",
     ["'ORDRE' looks like a misspelling of 'ORDER'"]),
    ("ORDER = '5'\n\ndef load_demo(session, settings):\n    return ''\n", ["'ORDER' should be a int, got str"]),
    ("def load_demo(session):\n    return ''\n", ["'load_demo' should be a function of 2 arguments"]),
])
def test_a_misspelt_area_fails_loudly(fake_city, text, message) -> None:
    with pytest.raises(PluginContractError) as err:
        _discover(fake_city, text)
    assert "fakecity.roads.demo" in str(err.value)
    for m in message:
        assert m in str(err.value)


def _module(name: str, source: str = "", **attrs) -> ModuleType:
    """A module ``name`` holding ``attrs`` and what ``source`` defines (functions defined in it, as in a file)."""
    mod = ModuleType(name)
    mod.__dict__.update(attrs)
    exec(source, mod.__dict__)
    return mod


def test_route_and_cli_contracts() -> None:
    nav = [NavItem("/roads", "道路", "Roads")]
    assert ROUTES_CONTRACT.check(_module("r", "def lifespan(app):\n    pass\n", router=APIRouter(), NAV=nav))
    with pytest.raises(PluginContractError, match="'NAVS' looks like a misspelling of 'NAV'"):
        ROUTES_CONTRACT.check(_module("r", router=APIRouter(), NAVS=nav))
    with pytest.raises(PluginContractError, match="'lifespam' looks like a misspelling of 'lifespan'"):
        ROUTES_CONTRACT.check(_module("r", "def lifespam(app):\n    pass\n", router=APIRouter()))
    with pytest.raises(PluginContractError, match="'lifespan' should be a function of 1 argument"):
        ROUTES_CONTRACT.check(_module("r", "def lifespan():\n    pass\n", router=APIRouter()))
    with pytest.raises(PluginContractError, match="'NAV' should be a list of NavItem"):
        ROUTES_CONTRACT.check(_module("r", router=APIRouter(), NAV=[("/roads", "道路")]))
    with pytest.raises(PluginContractError, match="missing required 'router'"):
        ROUTES_CONTRACT.check(_module("r", routers=APIRouter()))
    assert cli_main.CONTRACT.check(_module("c", app=typer.Typer(), NAME="roads"))
    with pytest.raises(PluginContractError, match="'NAMES' looks like a misspelling of 'NAME'"):
        cli_main.CONTRACT.check(_module("c", app=typer.Typer(), NAME="roads", NAMES="x"))
    assert set(CONTRACTS) == {"bootstrap", "demo"}
