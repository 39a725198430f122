"""Network files in and results out.

* Native JSON ``cleanheat-network/1`` (:func:`parse_native`, :func:`dump_native`): element lists with string ids,
  temperatures in °C and pressures in bar (the unit is in every field name).
* GeoJSON import (:func:`parse_geojson`): the sized networks of DistrictHeatSim (``flow line`` / ``return
  line`` / ``HAST`` / ``heat source`` LineStrings, projected coordinates such as EPSG:25833); nodes are the
  line end points, matched per side to the centimetre.
* ``dhnet-bench/1`` (:mod:`cleanheat.network.io_bench`).
* Results: :func:`result_json` (columnar JSON), :func:`result_geojson` (pipes as LineStrings with their results),
  :func:`write_result_csv` (nodes.csv, pipes.csv, consumers.csv, sources.csv).

``read_network(path, fmt)`` reads any of the three formats.
"""

from __future__ import annotations

import csv
import json
import math
import re
from pathlib import Path
from typing import Any

import numpy as np

from cleanheat import rowspec as rs
from cleanheat.errors import InputIssue
from cleanheat.network.catalogue import pipe_catalogue
from cleanheat.network.errors import NetworkInputError
from cleanheat.network.io_bench import FORMAT_ID as BENCH_FORMAT
from cleanheat.network.io_bench import dhnet_results, parse_dhnet_bench
from cleanheat.network.model import Consumers, Network, Nodes, Pipes, Pumps, Sources, Valves
from cleanheat.network.results import NetworkResult
from cleanheat.rowspec import Column, Msg, RowSpec
from cleanheat.tabular import csv_cell

NATIVE_FORMAT = "cleanheat-network/1"
FORMATS = ("native", BENCH_FORMAT, "geojson")
K0 = 273.15
BAR = 1e5


# ------------------------------------------------------------------------------------------------ native JSON
def _num(name: str, default: Any = None, *, required: bool = False, scale: float = 1.0, per: float = 1.0,
         shift: float = 0.0) -> Column:
    """A number field of the native format (``* scale / per + shift`` converts it to SI: bar -> Pa, mm -> m,
    °C -> K); an absent optional one takes ``default`` (``None``: not given, NaN)."""
    return Column(name, parse=lambda v: float(v) * scale / per + shift, required=required,
                  default=math.nan if default is None else default * scale / per + shift,
                  messages={"required": Msg("缺少 {field}", "missing {field}"),
                            "type": Msg("{field} 不是数字: {raw!r}", "{field} is not a number: {raw!r}")})


def _text(name: str, default: str) -> Column:
    return Column(name, parse=str, default=default)


def _native_specs(ground_c: float, rough_mm: float) -> dict[str, RowSpec]:
    """The columns of each element list of ``cleanheat-network/1`` (see docs/network.md)."""
    return {
        "nodes": RowSpec((_num("x_m", 0.0), _num("y_m", 0.0), _num("z_m", 0.0), _text("side", "other"))),
        "pipes": RowSpec((_num("length_m", required=True), Column("dn", parse=int, default=0),
                          _num("inner_diameter_mm", per=1000.0), _num("u_w_per_mk"),
                          _num("roughness_mm", rough_mm, per=1000.0), _num("ground_temperature_c", ground_c, shift=K0),
                          _num("zeta", 0.0), _text("side", "other"), _text("kind", "pipe"), _text("insulation", ""))),
        "consumers": RowSpec((_num("heat_w", required=True), _text("control", "treturn"),
                              _num("return_temperature_c", shift=K0), _num("delta_t_k"),
                              _num("min_dp_bar", 0.5, scale=BAR))),
        "sources": RowSpec((_num("supply_temperature_c", required=True, shift=K0), _text("kind", "pressure"),
                            _num("supply_pressure_bar", scale=BAR), _num("lift_bar", scale=BAR),
                            _num("mass_flow_kg_s"))),
        "pumps": RowSpec((_num("lift_bar", required=True, scale=BAR), _num("max_flow_kg_s", required=True))),
        "valves": RowSpec((_num("diameter_mm", required=True, per=1000.0), _num("zeta", required=True),
                           Column("open", parse=bool, default=True))),
    }


#: the node references of each element list
_REFS = {"pipes": ("from", "to"), "consumers": ("supply_node", "return_node"),
         "sources": ("supply_node", "return_node"), "pumps": ("from", "to"), "valves": ("from", "to")}
_ID_PREFIX = {"pipes": "p", "consumers": "c", "sources": "s", "pumps": "pump", "valves": "v"}


def _native_rows(doc: dict[str, Any], section: str, spec: RowSpec, idx: dict[str, int], file: str | None,
                 issues: list[InputIssue]) -> list[dict[str, Any]]:
    """The checked rows of one element list: typed fields (SI units), node indices of the references, ids."""
    ref = RowSpec(tuple(Column(k, parse=str, choices=idx, required=True,
                               messages={"required": Msg("{field} None 不是节点编号", "{field} None is not a node id"),
                                         "choice": Msg("{field} {raw!r} 不是节点编号",
                                                       "{field} {raw!r} is not a node id")})
                        for k in _REFS.get(section, ())))
    numbers = {c.field for c in spec.columns if isinstance(c.default, float)}
    out = []
    for i, row in enumerate(doc.get(section) or []):
        # a number given as null is "not given" (NaN), not missing
        given = {k: (math.nan if v is None and k in numbers else v) for k, v in row.items()}
        r = spec.validate(given, file=file, sheet=section, row_no=i)
        links = ref.validate(row, file=file, sheet=section, row_no=i)
        issues += links.issues + r.issues
        values = r.values | {k: (v if v is not None else 0) for k, v in links.values.items()}
        out.append(values | {"id": str(row.get("id", i if section == "nodes" else f"{_ID_PREFIX[section]}{i}"))})
    return out


def _catalogue_pipes(rows: list[dict], cat, file: str | None, issues: list[InputIssue]) -> None:
    """Inner diameter [m] and U' [W/(m K)] from the catalogue by DN where a pipe gives none (NaN)."""
    dn = np.array([r["dn"] or 0 for r in rows], dtype=float)
    known, d_cat, u_cat = cat.lookup(dn) if len(rows) else (np.zeros(0, bool), np.zeros(0), np.zeros(0))
    for i, r in enumerate(rows):
        r["dn"] = int(dn[i])
        for key, fallback in (("inner_diameter_mm", d_cat), ("u_w_per_mk", u_cat)):
            if r[key] is None or not math.isnan(r[key]):  # a bad value (reported) or a given one
                continue
            if dn[i] and known[i]:
                r[key] = float(fallback[i])
            else:
                issues.append(InputIssue(f"请给出 {key} 或目录中的 DN", file=file, sheet="pipes", row=i, field=key,
                                         message_en=f"give {key} or a catalogue dn"))


def parse_native(doc: dict[str, Any], file: str | None = None) -> Network:
    """Build a network from a ``cleanheat-network/1`` document (see docs/network.md for the fields)."""
    if doc.get("format") != NATIVE_FORMAT:
        raise NetworkInputError(f"not a {NATIVE_FORMAT} document", [
            InputIssue(f"format is {doc.get('format')!r}, expected {NATIVE_FORMAT!r}", file=file, field="format")])
    issues: list[InputIssue] = []
    idx: dict[str, int] = {}
    for i, n in enumerate(doc.get("nodes") or []):
        if "id" not in n:
            issues.append(InputIssue("节点缺少编号", file=file, sheet="nodes", row=i, field="id",
                                     message_en="node without id"))
            continue
        idx[str(n["id"])] = i
    ground_c = float(doc.get("ground_temperature_c", 5.0))
    cat = pipe_catalogue()
    specs = _native_specs(ground_c, cat.default_roughness_m * 1000)
    rows = {section: _native_rows(doc, section, spec, idx, file, issues) for section, spec in specs.items()}
    _catalogue_pipes(rows["pipes"], cat, file, issues)
    if issues:
        raise NetworkInputError(f"{file or 'document'}: invalid network", issues)
    static = doc.get("static_pressure_bar")
    net = Network(**_native_elements(rows), name=str(doc.get("name", "network")), crs=doc.get("crs"),
                  ground_temperature_k=ground_c + K0,
                  static_pressure_pa=None if static is None else float(static) * BAR,
                  meta={"format": NATIVE_FORMAT})
    return net.validate(file)


def _native_elements(rows: dict[str, list[dict]]) -> dict[str, Any]:
    """The element tables from the checked rows."""
    def col(section: str, key: str) -> list:
        return [r[key] for r in rows[section]]

    return {
        "nodes": Nodes.build(len(rows["nodes"]), id=col("nodes", "id"), x_m=col("nodes", "x_m"),
                             y_m=col("nodes", "y_m"), z_m=col("nodes", "z_m"), side=col("nodes", "side")),
        "pipes": Pipes.build(col("pipes", "from"), col("pipes", "to"), col("pipes", "length_m"),
                             col("pipes", "inner_diameter_mm"),
                             id=col("pipes", "id"), roughness_m=col("pipes", "roughness_mm"),
                             u_w_per_mk=col("pipes", "u_w_per_mk"),
                             ground_temperature_k=col("pipes", "ground_temperature_c"), zeta=col("pipes", "zeta"),
                             dn=np.array(col("pipes", "dn"), dtype=int), side=col("pipes", "side"),
                             kind=col("pipes", "kind"), insulation=col("pipes", "insulation")),
        "consumers": Consumers.build(col("consumers", "supply_node"), col("consumers", "return_node"),
                                     col("consumers", "heat_w"), id=col("consumers", "id"),
                                     control=col("consumers", "control"),
                                     return_temperature_k=col("consumers", "return_temperature_c"),
                                     delta_t_k=col("consumers", "delta_t_k"), min_dp_pa=col("consumers", "min_dp_bar")),
        "sources": Sources.build(col("sources", "supply_node"), col("sources", "return_node"),
                                 col("sources", "supply_temperature_c"), id=col("sources", "id"),
                                 kind=col("sources", "kind"), supply_pressure_pa=col("sources", "supply_pressure_bar"),
                                 lift_pa=col("sources", "lift_bar"), mass_flow_kg_s=col("sources", "mass_flow_kg_s")),
        "pumps": Pumps.build(col("pumps", "from"), col("pumps", "to"), col("pumps", "lift_bar"),
                             col("pumps", "max_flow_kg_s"), id=col("pumps", "id")),
        "valves": Valves.build(col("valves", "from"), col("valves", "to"), col("valves", "diameter_mm"),
                               col("valves", "zeta"), id=col("valves", "id"), open=col("valves", "open")),
    }


def _clean(v: float) -> float | None:
    return None if v is None or (isinstance(v, float) and not math.isfinite(v)) else v


def dump_native(net: Network) -> dict[str, Any]:
    """The network as a ``cleanheat-network/1`` document (inverse of :func:`parse_native`)."""
    nid = net.nodes.id
    n, p, c, s = net.nodes, net.pipes, net.consumers, net.sources
    return {
        "format": NATIVE_FORMAT, "name": net.name, "crs": net.crs,
        "ground_temperature_c": net.ground_temperature_k - K0,
        "static_pressure_bar": None if net.static_pressure_pa is None else net.static_pressure_pa / BAR,
        "nodes": [{"id": str(nid[i]), "x_m": float(n.x_m[i]), "y_m": float(n.y_m[i]), "z_m": float(n.z_m[i]),
                   "side": str(n.side[i])} for i in range(len(n))],
        "pipes": [{"id": str(p.id[i]), "from": str(nid[p.from_node[i]]), "to": str(nid[p.to_node[i]]),
                   "length_m": float(p.length_m[i]), "inner_diameter_mm": float(p.inner_diameter_m[i] * 1000),
                   "dn": int(p.dn[i]), "roughness_mm": float(p.roughness_m[i] * 1000),
                   "u_w_per_mk": float(p.u_w_per_mk[i]), "ground_temperature_c": float(p.ground_temperature_k[i] - K0),
                   "zeta": float(p.zeta[i]), "side": str(p.side[i]), "kind": str(p.kind[i]),
                   "insulation": str(p.insulation[i])} for i in range(len(p))],
        "consumers": [{"id": str(c.id[i]), "supply_node": str(nid[c.supply_node[i]]),
                       "return_node": str(nid[c.return_node[i]]), "heat_w": float(c.heat_w[i]),
                       "control": str(c.control[i]),
                       "return_temperature_c": _clean(float(c.return_temperature_k[i] - K0)),
                       "delta_t_k": _clean(float(c.delta_t_k[i])), "min_dp_bar": float(c.min_dp_pa[i] / BAR)}
                      for i in range(len(c))],
        "sources": [{"id": str(s.id[i]), "supply_node": str(nid[s.supply_node[i]]),
                     "return_node": str(nid[s.return_node[i]]), "kind": str(s.kind[i]),
                     "supply_temperature_c": float(s.supply_temperature_k[i] - K0),
                     "supply_pressure_bar": _clean(float(s.supply_pressure_pa[i] / BAR)),
                     "lift_bar": _clean(float(s.lift_pa[i] / BAR)),
                     "mass_flow_kg_s": _clean(float(s.mass_flow_kg_s[i]))} for i in range(len(s))],
        "pumps": [{"id": str(net.pumps.id[i]), "from": str(nid[net.pumps.from_node[i]]),
                   "to": str(nid[net.pumps.to_node[i]]), "lift_bar": float(net.pumps.lift_pa[i] / BAR),
                   "max_flow_kg_s": float(net.pumps.max_flow_kg_s[i])} for i in range(len(net.pumps))],
        "valves": [{"id": str(net.valves.id[i]), "from": str(nid[net.valves.from_node[i]]),
                    "to": str(nid[net.valves.to_node[i]]), "diameter_mm": float(net.valves.diameter_m[i] * 1000),
                    "zeta": float(net.valves.zeta[i]), "open": bool(net.valves.open[i])}
                   for i in range(len(net.valves))],
    }


# ------------------------------------------------------------------------------------------------ GeoJSON
_DN_RE = re.compile(r"(\d+)")
GEOJSON_SUPPLY_TEMPERATURE_C = 85.0
GEOJSON_RETURN_TEMPERATURE_C = 55.0
GEOJSON_INSULATION = ("pre-insulated", "old")


def _line(raw: Any) -> list:
    """The coordinates of a LineString geometry with two or more points."""
    coords = raw.get("coordinates") if isinstance(raw, dict) else None
    if not isinstance(raw, dict) or raw.get("type") != "LineString" or not isinstance(coords, list) or len(coords) < 2:
        raise ValueError("not a LineString")
    return coords


def _feature_kind(name: str) -> tuple[str, str] | None:
    """``flow line``/``return line`` -> (pipe, supply/return), ``HAST`` -> consumer, ``heat source`` -> source."""
    for prefix, kind in (("flow line", ("pipe", "supply")), ("return line", ("pipe", "return")),
                         ("HAST", ("consumer", "")), ("heat source", ("source", ""))):
        if name.startswith(prefix):
            return kind
    return None


def _not_a_number(name: str) -> Msg:
    return Msg(f"{name} 不是数字: {{raw!r}}", f"{name} is not a number: {{raw!r}}")


_UNKNOWN_NAME = Msg("未知的要素名称 {raw!r}", "unknown feature name {raw!r}")
#: a feature of a DistrictHeatSim network (its ``properties`` with the geometry)
FEATURE = RowSpec((
    Column("geometry", parse=_line, required=True,
           messages={k: Msg("须为两点或以上的 LineString", "expected a LineString with two or more points")
                     for k in ("required", "type")}),
    Column("name", required=True, choices=_feature_kind,
           messages={"required": _UNKNOWN_NAME, "choice": _UNKNOWN_NAME}),
))
PIPE_FEATURE = RowSpec((
    Column("diameter_mm", parse=rs.number, required=True, unit="mm",
           messages={k: _not_a_number("diameter_mm") for k in ("required", "type")}),
    Column("length_m", parse=rs.number, unit="m", messages={"type": _not_a_number("length_m")}),
    Column("std_type", default=""),
))
SUBSTATION_FEATURE = RowSpec((
    Column("qext_W", parse=rs.number, required=True, unit="W", default=0.0,
           messages={k: _not_a_number("qext_W") for k in ("required", "type")}),
))


class _Nodes:
    """Line end points, one node per side and centimetre."""

    def __init__(self) -> None:
        self.keys: dict[tuple[str, int, int], int] = {}
        self.xs: list[float] = []
        self.ys: list[float] = []
        self.sides: list[str] = []

    @staticmethod
    def key(side: str, c) -> tuple[str, int, int]:
        return side, round(float(c[0]) * 100), round(float(c[1]) * 100)

    def node(self, side: str, c) -> int:
        k = self.key(side, c)
        if k not in self.keys:
            self.keys[k] = len(self.xs)
            self.xs.append(float(c[0]))
            self.ys.append(float(c[1]))
            self.sides.append(side)
        return self.keys[k]

    def find(self, side: str, c) -> int | None:
        return self.keys.get(self.key(side, c))

    def join(self, first: str, second: str, coords: list) -> tuple[int, int] | None:
        """The nodes a connecting line joins: ``first`` side at its start and ``second`` at its end, or reversed."""
        a, b = self.find(first, coords[0]), self.find(second, coords[-1])
        if a is None or b is None:
            a, b = self.find(first, coords[-1]), self.find(second, coords[0])
        return None if a is None or b is None else (a, b)


def _features(feats: list, file: str | None, issues: list[InputIssue]) -> list[tuple[int, tuple, list, dict]]:
    """(index, kind, coordinates, properties) of every feature that passes :data:`FEATURE`."""
    out = []
    for i, f in enumerate(feats):
        props = f.get("properties") or {}
        r = FEATURE.validate({"geometry": f.get("geometry"), "name": str(props.get("name") or "")}, file=file,
                             row_no=i)
        issues += r.issues[:1]  # a feature without a line is not named further
        if r.ok:
            out.append((i, r["name"], r["geometry"], props))
    return out


def _pipes(rows: list, nodes: _Nodes, cat, insulation: str, file: str | None,
           issues: list[InputIssue]) -> dict[str, list]:
    """The pipe columns of the flow and return lines (DN from ``std_type``, else the nearest inner diameter)."""
    out: dict[str, list] = {k: [] for k in ("from", "to", "length", "diam", "dn", "u", "id", "side")}
    for i, (_, side), coords, props in rows:
        r = PIPE_FEATURE.validate(props, file=file, row_no=i)
        issues += r.issues
        d_mm = r["diameter_mm"] if r["diameter_mm"] is not None else float("nan")
        geo_len = float(sum(math.dist(coords[k], coords[k + 1]) for k in range(len(coords) - 1)))
        m = _DN_RE.search(str(r["std_type"]))
        dn = int(m.group(1)) if m else 0
        known, _d, u = cat.lookup([dn])
        if not known[0]:
            dn_n, u = cat.by_inner_diameter([d_mm / 1000.0])
            dn = int(dn_n[0])
        for k, v in (("from", nodes.node(side, coords[0])), ("to", nodes.node(side, coords[-1])),
                     ("length", r["length_m"] or geo_len), ("diam", d_mm / 1000.0), ("dn", dn),
                     ("u", float(u[0]) * (cat.old_pipe_factor if insulation == "old" else 1.0)),
                     ("id", f"{side[0]}{len(out['id'])}"), ("side", side)):
            out[k].append(v)
    return out


def _connections(features: list, nodes: _Nodes, file: str | None,
                 issues: list[InputIssue]) -> tuple[list, list]:
    """(substations as (supply, return, heat [W])), (sources as (supply, return)) joined to the pipe nodes."""
    subs, srcs = [], []
    for i, (kind, _), coords, props in features:
        if kind == "consumer":
            ends = nodes.join("supply", "return", coords)
            what = Msg("换热站线未连接供水线和回水线", "substation line does not join a flow line and a return line")
        elif kind == "source":
            ends = nodes.join("return", "supply", coords)
            what = Msg("热源线未连接回水线和供水线", "heat source line does not join a return line to a flow line")
        else:
            continue
        if ends is None:
            issues.append(InputIssue(what.zh, file=file, row=i, field="geometry", message_en=what.en))
        elif kind == "consumer":
            r = SUBSTATION_FEATURE.validate(props, file=file, row_no=i)
            issues += r.issues
            subs.append((ends[0], ends[1], r["qext_W"] if r.ok else 0.0))
        else:
            srcs.append((ends[1], ends[0]))
    if not srcs:
        issues.append(InputIssue("未找到热源", file=file, message_en="no heat source found"))
    return subs, srcs


def parse_geojson(doc: dict[str, Any], file: str | None = None, *,
                  supply_temperature_c: float = GEOJSON_SUPPLY_TEMPERATURE_C,
                  return_temperature_c: float = GEOJSON_RETURN_TEMPERATURE_C, supply_pressure_bar: float = 4.0,
                  lift_bar: float = 2.0,
                  ground_temperature_c: float = 5.0, roughness_mm: float | None = None,
                  name: str | None = None, insulation: str = "pre-insulated") -> Network:
    """Import a sized network GeoJSON (DistrictHeatSim layout: ``flow line``, ``return line``, ``HAST`` with
    ``qext_W``, ``heat source``). Line end points within 1 cm on the same side are one node.

    The files carry no insulation state: ``insulation="pre-insulated"`` gives every pipe the catalogue's
    pre-insulated U'; ``"old"`` gives ``old_pipe_factor`` times that (an old trench pipe with degraded mineral
    wool, ``network/data/pipe_catalogue.yaml``)."""
    issues: list[InputIssue] = []
    if insulation not in GEOJSON_INSULATION:
        raise NetworkInputError("unknown insulation state", [InputIssue(
            f"insulation must be one of {', '.join(GEOJSON_INSULATION)}, not {insulation!r}", field="insulation")])
    feats = doc.get("features")
    if doc.get("type") != "FeatureCollection" or not isinstance(feats, list):
        raise NetworkInputError("not a GeoJSON FeatureCollection", [InputIssue("expected a FeatureCollection",
                                                                               file=file, field="type")])
    crs = (doc.get("crs") or {}).get("properties", {}).get("name")
    if crs and "EPSG::" in crs:
        crs = "EPSG:" + crs.split("EPSG::")[-1]
    cat = pipe_catalogue()
    nodes = _Nodes()
    features = _features(feats, file, issues)
    pipes = _pipes([f for f in features if f[1][0] == "pipe"], nodes, cat, insulation, file, issues)
    subs, srcs = _connections(features, nodes, file, issues)
    if issues:
        raise NetworkInputError(f"{file or 'GeoJSON'}: cannot import the network", issues)
    nn, n_p, n_c, n_s = len(nodes.xs), len(pipes["from"]), len(subs), len(srcs)
    rough = (roughness_mm / 1000.0) if roughness_mm is not None else cat.default_roughness_m
    nd = Nodes.build(nn, id=[f"{nodes.sides[i][0]}{i}" for i in range(nn)], x_m=nodes.xs, y_m=nodes.ys,
                     side=nodes.sides)
    pp = Pipes.build(pipes["from"], pipes["to"], pipes["length"], pipes["diam"], id=pipes["id"],
                     roughness_m=np.full(n_p, rough), u_w_per_mk=pipes["u"],
                     ground_temperature_k=np.full(n_p, ground_temperature_c + K0), dn=pipes["dn"], side=pipes["side"],
                     kind=["pipe"] * n_p, insulation=[insulation] * n_p)
    cc = Consumers.build([c[0] for c in subs], [c[1] for c in subs], [c[2] for c in subs],
                         id=[f"hast{i}" for i in range(n_c)], control=["treturn"] * n_c,
                         return_temperature_k=np.full(n_c, return_temperature_c + K0))
    ss = Sources.build([s[0] for s in srcs], [s[1] for s in srcs], np.full(n_s, supply_temperature_c + K0),
                       id=[f"source{i}" for i in range(n_s)], kind=["pressure"] * n_s,
                       supply_pressure_pa=np.full(n_s, supply_pressure_bar * BAR), lift_pa=np.full(n_s, lift_bar * BAR))
    net = Network(nodes=nd, pipes=pp, consumers=cc, sources=ss,
                  name=name or (Path(file).parent.name if file else "geojson network"),
                  crs=crs, ground_temperature_k=ground_temperature_c + K0, meta={"format": "geojson"})
    return net.validate(file)


def read_network(path: str | Path, fmt: str | None = None, **geojson_options: Any) -> Network:
    """Read a network file; ``fmt`` is ``native``, ``dhnet-bench/1`` or ``geojson`` (guessed when None)."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise NetworkInputError(f"cannot read {path}", [InputIssue(str(exc), file=str(path))]) from exc
    return parse_network(data, str(path), fmt, **geojson_options)


def guess_format(doc: Any) -> str:
    """``dhnet-bench/1``, ``geojson`` or ``native`` from a parsed document's own markers."""
    if isinstance(doc, dict) and doc.get("format") == BENCH_FORMAT:
        return BENCH_FORMAT
    if isinstance(doc, dict) and doc.get("type") == "FeatureCollection":
        return "geojson"
    return "native"


def parse_network(data: bytes | str, file: str | None = None, fmt: str | None = None,
                  **geojson_options: Any) -> Network:
    """A network from the bytes of a file (JSON, GeoJSON or dhnet-bench/1; ``fmt`` guessed when None).

    Errors name the file and, for JSON syntax errors, the line and character offset.
    """
    if fmt is not None and fmt not in FORMATS:
        raise NetworkInputError(f"unknown format {fmt!r}", [InputIssue(f"choose one of {', '.join(FORMATS)}",
                                                                       file=file, field="format")])
    try:
        text = data.decode("utf-8-sig") if isinstance(data, bytes) else data
    except UnicodeDecodeError as exc:
        raise NetworkInputError(f"{file or 'upload'}: not UTF-8 text", [
            InputIssue("the file is not UTF-8 encoded JSON", file=file, offset=exc.start)]) from exc
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise NetworkInputError(f"{file or 'upload'}: not valid JSON", [
            InputIssue(f"JSON error: {exc.msg} (line {exc.lineno}, column {exc.colno})", file=file,
                       row=exc.lineno, offset=exc.pos)]) from exc
    if not isinstance(doc, dict):
        raise NetworkInputError(f"{file or 'upload'}: not a network", [
            InputIssue("expected a JSON object at the top level", file=file)])
    fmt = fmt or guess_format(doc)
    _check_rows(doc, fmt, file)
    if fmt == "native":
        return parse_native(doc, file)
    if fmt == BENCH_FORMAT:
        return parse_dhnet_bench(doc, file)
    return parse_geojson(doc, file, **geojson_options)


_SECTIONS = {"native": ("nodes", "pipes", "consumers", "sources", "pumps", "valves"),
             BENCH_FORMAT: ("nodes", "pipes", "consumers"), "geojson": ("features",)}


def _check_rows(doc: dict, fmt: str, file: str | None) -> None:
    """Every section is a list of JSON objects (so that the parsers can report fields by row)."""
    issues = []
    for section in _SECTIONS[fmt]:
        rows = doc.get(section)
        if rows is None:
            continue
        if not isinstance(rows, list):
            issues.append(InputIssue(f"{section} must be a list", file=file, sheet=section))
            continue
        for i, row in enumerate(rows):
            if not isinstance(row, dict):
                issues.append(InputIssue("expected a JSON object", file=file, sheet=section, row=i))
                if len(issues) >= 20:
                    break
            elif fmt == "geojson" and not isinstance(row.get("properties") or {}, dict):
                issues.append(InputIssue("properties must be an object", file=file, sheet=section, row=i,
                                         field="properties"))
    if issues:
        raise NetworkInputError(f"{file or 'upload'}: invalid {fmt} network", issues)


# ------------------------------------------------------------------------------------------------ results
def _list(a: np.ndarray, nd: int = 6) -> list:
    return [None if not math.isfinite(x) else round(float(x), nd) for x in np.asarray(a, dtype=float)]


def result_json(r: NetworkResult) -> dict[str, Any]:
    """Columnar results: ``nodes``, ``pipes``, ``consumers``, ``sources`` (each a dict of equal-length lists)."""
    net = r.network
    summary = {k: (_clean(v) if isinstance(v, float) else v) for k, v in r.summary().items()}
    return {
        "format": "cleanheat-network-result/1",
        "network": net.name,
        "summary": summary,
        "warnings": [w.as_dict() for w in r.warnings],
        "residuals_k": r.residuals_k,
        "nodes": {"id": [str(x) for x in net.nodes.id], "p_bar": _list(r.node_p_pa / BAR, 7),
                  "t_c": _list(r.node_t_k - K0, 6)},
        "pipes": {"id": [str(x) for x in net.pipes.id], "mdot_kg_s": _list(r.pipe_mdot_kg_s, 9),
                  "velocity_m_s": _list(r.pipe_velocity_m_s, 5), "dp_bar": _list(r.pipe_dp_pa / BAR, 7),
                  "t_in_c": _list(r.branch_t_in_k[: r.n_pipes] - K0, 5), "t_out_c": _list(r.pipe_t_out_k - K0, 5),
                  "heat_loss_w": _list(r.pipe_heat_loss_w, 3),
                  "heat_loss_w_per_m": _list(r.pipe_heat_loss_w / net.pipes.length_m, 4),
                  "reynolds": _list(r.branch_reynolds[: r.n_pipes], 1),
                  "lambda": _list(r.branch_lambda[: r.n_pipes], 7)},
        "consumers": {"id": [str(x) for x in net.consumers.id], "mdot_kg_s": _list(r.consumer_mdot_kg_s, 9),
                      "t_in_c": _list(r.consumer_t_in_k - K0, 5), "t_out_c": _list(r.consumer_t_out_k - K0, 5),
                      "dp_bar": _list(r.consumer_dp_pa / BAR, 6), "heat_w": _list(r.consumer_heat_w, 3)},
        "sources": {"id": [str(x) for x in net.sources.id], "mdot_kg_s": _list(r.source_mdot_kg_s, 9),
                    "t_return_c": _list(r.source_t_return_k - K0, 5), "heat_w": _list(r.source_heat_w, 3),
                    "pump_power_w": _list(r.source_pump_power_w, 3)},
    }


def result_geojson(r: NetworkResult) -> dict[str, Any]:
    """Pipes as LineStrings (node coordinates, in the network's CRS) with their results as properties."""
    net = r.network
    p = net.pipes
    x, y = net.nodes.x_m, net.nodes.y_m
    feats = []
    for i in range(len(p)):
        a, b = p.from_node[i], p.to_node[i]
        feats.append({
            "type": "Feature",
            "geometry": {"type": "LineString", "coordinates": [[float(x[a]), float(y[a])], [float(x[b]), float(y[b])]]},
            "properties": {
                "id": str(p.id[i]), "side": str(p.side[i]), "dn": int(p.dn[i]), "length_m": float(p.length_m[i]),
                "mdot_kg_s": _clean(float(r.pipe_mdot_kg_s[i])),
                "velocity_m_s": _clean(float(r.pipe_velocity_m_s[i])),
                "t_in_c": _clean(float(r.branch_t_in_k[i] - K0)), "t_out_c": _clean(float(r.pipe_t_out_k[i] - K0)),
                "p_from_bar": _clean(float(r.node_p_pa[a] / BAR)), "p_to_bar": _clean(float(r.node_p_pa[b] / BAR)),
                "heat_loss_w": _clean(float(r.pipe_heat_loss_w[i])),
                "heat_loss_w_per_m": _clean(float(r.pipe_heat_loss_w[i] / p.length_m[i])),
            },
        })
    doc: dict[str, Any] = {"type": "FeatureCollection", "features": feats}
    if net.crs and net.crs.upper().startswith("EPSG:"):
        doc["crs"] = {"type": "name", "properties": {"name": "urn:ogc:def:crs:EPSG::" + net.crs.split(":")[1]}}
    return doc


def write_result_csv(r: NetworkResult, directory: str | Path) -> list[Path]:
    """Write nodes.csv, pipes.csv, consumers.csv and sources.csv into ``directory``; return the paths."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    doc = result_json(r)
    out = []
    for table in ("nodes", "pipes", "consumers", "sources"):
        cols = doc[table]
        path = directory / f"{table}.csv"
        with path.open("w", newline="", encoding="utf-8") as fh:
            w = csv.writer(fh)
            keys = list(cols)
            w.writerow([csv_cell(k) for k in keys])
            w.writerows([csv_cell(v) for v in row] for row in zip(*(cols[k] for k in keys), strict=True))
        out.append(path)
    return out


def write_result(r: NetworkResult, path: str | Path, fmt: str | None = None) -> Path:
    """Write a result; ``fmt`` is ``json``, ``dhnet-bench/1``, ``geojson`` or ``csv`` (guessed from the suffix)."""
    path = Path(path)
    if fmt is None:
        fmt = {".geojson": "geojson", ".csv": "csv"}.get(path.suffix.lower(), "json")
    if fmt == "csv":
        write_result_csv(r, path if path.suffix == "" else path.with_suffix(""))
        return path
    doc = {"json": result_json, "geojson": result_geojson, BENCH_FORMAT: dhnet_results}[fmt](r)
    path.write_text(json.dumps(doc, ensure_ascii=False, allow_nan=False, default=_json_default), encoding="utf-8")
    return path


def _json_default(o: Any) -> Any:
    if isinstance(o, np.generic):
        return o.item()
    raise TypeError(f"not JSON serialisable: {type(o)}")
