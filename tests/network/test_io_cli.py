"""File formats (native, GeoJSON, dhnet-bench/1), result writers, bad input, the CLI, seasonal analysis."""

from __future__ import annotations

import csv
import json
from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from cleanheat.cli import network as network_cli
from cleanheat.cli.network import app
from cleanheat.network import io as network_io
from cleanheat.network.analysis import already_preinsulated, renovation, season_bins, seasonal_heat_loss
from cleanheat.network.catalogue import pipe_catalogue
from cleanheat.network.errors import NetworkInputError
from cleanheat.network.io import dump_native, parse_native, read_network, write_result
from cleanheat.network.io_bench import parse_dhnet_bench
from cleanheat.network.solver import solve

ROOT = Path(__file__).resolve().parents[2]
NETS = ROOT / "data" / "networks"


@pytest.mark.parametrize("name,n_pipes,n_cons", [("bad-muskau", 260, 66), ("goerlitz", 86, 9)])
def test_geojson_import_real_networks(name, n_pipes, n_cons):
    net = read_network(NETS / name / "network-sized.geojson")
    assert net.crs == "EPSG:25833"
    assert (len(net.pipes), len(net.consumers), len(net.sources)) == (n_pipes, n_cons, 1)
    r = solve(net)
    s = r.summary()
    assert s["consumer_heat_w"] == pytest.approx(float(np.sum(net.consumers.heat_w)), rel=1e-9)
    assert 1.0 < s["heat_loss_pct_of_source"] < 10.0
    # round trip through the native format gives the same solution
    again = solve(parse_native(json.loads(json.dumps(dump_native(net)))))
    assert np.max(np.abs(again.node_t_k - r.node_t_k)) < 1e-9


def test_result_writers(tmp_path):
    r = solve(read_network(NETS / "goerlitz" / "network-sized.geojson"))
    gj = json.loads(write_result(r, tmp_path / "r.geojson").read_text())
    assert gj["crs"]["properties"]["name"].endswith("25833") and len(gj["features"]) == 86
    assert {"t_out_c", "heat_loss_w", "p_from_bar"} <= set(gj["features"][0]["properties"])
    js = json.loads(write_result(r, tmp_path / "r.json").read_text())
    assert len(js["pipes"]["mdot_kg_s"]) == 86 and js["summary"]["n_consumers"] == 9
    write_result(r, tmp_path / "csv", "csv")
    rows = list(csv.DictReader((tmp_path / "csv" / "pipes.csv").open()))
    assert len(rows) == 86 and float(rows[0]["length_m" if "length_m" in rows[0] else "heat_loss_w"]) >= 0


def test_bad_inputs_name_where():
    with pytest.raises(NetworkInputError) as exc:
        parse_native({"format": "cleanheat-network/1", "nodes": [{"id": "a"}, {"id": "b"}],
                      "pipes": [{"id": "p1", "from": "a", "to": "zz", "length_m": "long", "dn": 100}],
                      "consumers": [], "sources": []}, "net.json")
    where = {(i.sheet, i.row, i.field) for i in exc.value.issues}
    assert ("pipes", 0, "to") in where and ("pipes", 0, "length_m") in where
    with pytest.raises(NetworkInputError) as exc:
        parse_dhnet_bench({"format": "dhnet-bench/0"}, "b.json")
    assert exc.value.issues[0].field == "format"


def test_geojson_bad_feature(tmp_path):
    doc = json.loads((NETS / "goerlitz" / "network-sized.geojson").read_text())
    doc["features"][3]["properties"]["diameter_mm"] = "wide"
    p = tmp_path / "bad.geojson"
    p.write_text(json.dumps(doc))
    with pytest.raises(NetworkInputError) as exc:
        read_network(p)
    assert any(i.row == 3 and i.field == "diameter_mm" for i in exc.value.issues)


def test_cli_solve_dhnet_layout(pandapipes_case, tmp_path):
    net_doc, ref = pandapipes_case(150)
    src = tmp_path / "net.json"
    src.write_text(json.dumps(net_doc))
    out = tmp_path / "res.json"
    res = CliRunner().invoke(app, ["solve", str(src), "--format", "dhnet-bench/1", "--pandapipes-compatible",
                                   "-o", str(out)])
    assert res.exit_code == 0, res.output
    doc = json.loads(out.read_text())
    assert set(doc) >= {"nodes", "pipes", "consumers", "summary"}
    assert np.max(np.abs(np.array(doc["nodes"]["p_bar"]) - np.array(ref["nodes"]["p_bar"]))) < 1e-3
    assert doc["summary"]["solve_s"] > 0
    bad = CliRunner().invoke(app, ["solve", str(tmp_path / "missing.json"), "-o", str(out)])
    assert bad.exit_code == 1


def test_seasonal_and_renovation():
    net = read_network(NETS / "goerlitz" / "network-sized.geojson")
    # synthetic season: 3 bins of outdoor temperature, ground at 2 °C
    season = season_bins(np.array([-20.0] * 100 + [-5.0] * 300 + [3.0] * 200), np.full(600, 2.0),
                         t_design_c=-24.2, t_indoor_c=18.0, bin_k=5.0)
    base = seasonal_heat_loss(net, season)
    assert base.hours == 600 and base.heat_loss_gj > 0
    assert base.pipe_loss_gj.sum() == pytest.approx(base.heat_loss_gj)
    assert base.heat_source_gj == pytest.approx(base.heat_delivered_gj + base.heat_loss_gj, rel=1e-6)
    # make five pipes "old" (2.5 times the loss) and renovate them
    old = net.pipes.u_w_per_mk.copy()
    old[:5] *= 2.5
    old_net = net.replace(pipes=net.pipes.replace(u_w_per_mk=old))
    res = renovation(old_net, season, replace=[str(i) for i in net.pipes.id[:5]], price_yuan_per_gj=Decimal("40"))
    assert res.saved_gj > 0
    assert res.saved_yuan == (Decimal(repr(res.saved_gj)) * 40).quantize(Decimal("0.01"))
    cooler = renovation(net, season, supply_offset_k=-5.0, base=base)
    assert cooler.saved_gj > 0


def _season():
    return season_bins(np.array([-20.0] * 100 + [-5.0] * 300 + [3.0] * 200), np.full(600, 2.0),
                       t_design_c=-24.2, t_indoor_c=18.0, bin_k=5.0)


def test_renovating_pre_insulated_pipes_says_it_saves_nothing():
    net = read_network(NETS / "goerlitz" / "network-sized.geojson")  # the import takes the catalogue U'
    ids = [str(i) for i in net.pipes.id[:4]]
    assert already_preinsulated(net, ids) == ids
    res = renovation(net, _season(), replace=ids)
    assert res.saved_gj == pytest.approx(0.0, abs=1e-9) and res.already_preinsulated == tuple(ids)
    d = res.as_dict()
    assert d["pipes_already_preinsulated"] == ids and d["pipes_replaced"] == 4
    assert d["note_en"] == ("4 of the 4 pipes to replace are already pre-insulated (U' at the catalogue value); "
                            "no saving from replacing them")
    assert "4 条已是预制保温管" in d["note_zh"]
    # old pipes: no note, and the replacement saves heat
    old = read_network(NETS / "goerlitz" / "network-sized.geojson", insulation="old")
    assert np.allclose(old.pipes.u_w_per_mk, net.pipes.u_w_per_mk * pipe_catalogue().old_pipe_factor)
    assert set(old.pipes.insulation) == {"old"} and already_preinsulated(old, ids) == []
    res_old = renovation(old, _season(), replace=ids)
    assert res_old.saved_gj > 0 and res_old.note_en == "" and res_old.as_dict()["pipes_already_preinsulated"] == []
    with pytest.raises(NetworkInputError):
        read_network(NETS / "goerlitz" / "network-sized.geojson", insulation="rusty")


def test_cli_renovate_names_pipes_already_pre_insulated():
    path = str(NETS / "goerlitz" / "network-sized.geojson")
    r = CliRunner().invoke(app, ["renovate", path, "--worst", "3"], env={"COLUMNS": "400"})
    assert r.exit_code == 0, r.output
    out = " ".join(r.output.split())
    assert "saves 0.0 GJ/season" in out
    assert "3 of the 3 worst pipes are already pre-insulated" in out and "no saving from replacing them" in out
    assert "--insulation old" in out
    old = CliRunner().invoke(app, ["renovate", path, "--worst", "3", "--insulation", "old"], env={"COLUMNS": "400"})
    assert old.exit_code == 0, old.output
    assert "already pre-insulated" not in old.output and "saves 0.0 GJ" not in old.output
    assert CliRunner().invoke(app, ["renovate", path]).exit_code == 2  # nothing to change is a usage error


def test_cli_help_shows_the_geojson_defaults():
    assert (network_cli.GEO_SUPPLY_C, network_cli.GEO_RETURN_C) == (network_io.GEOJSON_SUPPLY_TEMPERATURE_C,
                                                                    network_io.GEOJSON_RETURN_TEMPERATURE_C)
    assert network_cli.GEO_INSULATION == network_io.GEOJSON_INSULATION
    r = CliRunner().invoke(app, ["solve", "--help"], env={"COLUMNS": "400"})
    out = " ".join(r.output.split())
    assert "source supply temperature (°C) [default: 85.0]" in out
    assert "consumer return temperature (°C) [default: 55.0]" in out
