"""A heat company's registered network as a simulation model: the network (热网) of the asset registry with its
heat-exchange stations, laid out and sized following Chinese practice (``network/data/china_practice.yaml``).

* Nodes: the heat source (its registered location; without one, the load-weighted centre of the stations) and
  every in-service station with a location and a design load; a supply and a return node each.
* Layout [D]: the shortest tree joining them (Prim's algorithm on straight distances); each pipe's length is the
  straight distance times ``route_factor`` (streets are not straight). Coordinates are metres east / north of the
  source (from longitude / latitude).
* Temperatures: the network's primary design supply / return set by the company (assets), checked against the
  CJJ 34 range. Stations take water at the design return temperature.
* Pipes: for each pipe the smallest catalogue DN whose specific friction loss at the design flow stays at or below
  ``max_specific_loss_pa_per_m`` (CJJ 34: 30-70 Pa/m), equivalent roughness 0.5 mm (CJJ 34 hot-water pipes);
  insulation ``pre-insulated`` (catalogue U') or ``old`` (times ``old_pipe_factor``), as the company says.
* Source: pressure-controlled; its return held at ``return_at_source``; the circulation lift is the largest
  supply-and-return friction loss to a station plus the station's differential pressure plus 0.5 bar.

The result is a ``cleanheat-network/1`` document, stored and solved like an upload.
"""

from __future__ import annotations

import heapq
import math
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Any

import yaml
from sqlalchemy import select
from sqlalchemy.orm import Session

from cleanheat.assets.tables import HeatSource, Station
from cleanheat.assets.tables import Network as RegisteredNetwork
from cleanheat.auth.service import Actor
from cleanheat.errors import InputError, InputIssue, NotFoundError
from cleanheat.network.catalogue import pipe_catalogue
from cleanheat.network.io import GEOJSON_INSULATION, NATIVE_FORMAT

#: water near the mean of 130/70 °C, only for sizing (the solver uses its own property tables) [S: IAPWS at 100 °C]
RHO_KG_M3 = 958.0
MU_PA_S = 2.82e-4
CP_J_KGK = 4216.0
M_PER_DEG_LAT = 110_540.0
M_PER_DEG_LON_EQ = 111_320.0


@lru_cache(maxsize=1)
def china_practice() -> dict[str, Any]:
    return yaml.safe_load(resources.files("cleanheat.network").joinpath("data/china_practice.yaml")
                          .read_text(encoding="utf-8"))


def registered_networks(session: Session, actor: Actor) -> list[RegisteredNetwork]:
    """The registered networks the actor's company may simulate (its own)."""
    q = select(RegisteredNetwork).order_by(RegisteredNetwork.code)
    if not actor.city_wide:
        q = q.where(RegisteredNetwork.org_id == actor.org_id)
    return list(session.scalars(q))


@dataclass
class _Site:
    code: str
    x: float
    y: float
    load_w: float
    return_c: float


def _friction_factor(re: float, rel_rough: float) -> float:
    if re < 2300:
        return 64.0 / max(re, 1.0)
    return 0.25 / math.log10(rel_rough / 3.7 + 5.74 / re ** 0.9) ** 2  # Swamee-Jain


def specific_loss_pa_per_m(mdot_kg_s: float, d_m: float, rough_m: float) -> float:
    area = math.pi * d_m * d_m / 4
    v = mdot_kg_s / RHO_KG_M3 / area
    re = RHO_KG_M3 * v * d_m / MU_PA_S
    return _friction_factor(re, rough_m / d_m) / d_m * RHO_KG_M3 * v * v / 2


def network_document(session: Session, actor: Actor, network_code: str, *,
                     insulation: str = "pre-insulated") -> dict[str, Any]:
    """The registered network ``network_code`` of the actor's company as a ``cleanheat-network/1`` document."""
    reg = session.scalar(select(RegisteredNetwork).where(RegisteredNetwork.code == network_code))
    if reg is None or not (actor.city_wide or reg.org_id == actor.org_id):
        raise NotFoundError(f"registered network {network_code!r} not found")
    if insulation not in GEOJSON_INSULATION:
        raise InputError("unknown insulation", [InputIssue(
            f"insulation must be one of {', '.join(GEOJSON_INSULATION)}", field="insulation")])
    cp = china_practice()
    t_sup, t_ret = float(reg.primary_design_supply_c), float(reg.primary_design_return_c)
    bounds = cp["primary_temperatures_c"]
    issues = []
    if not bounds["supply"]["min"] <= t_sup <= bounds["supply"]["max"]:
        issues.append(InputIssue(f"design supply {t_sup:g} °C is outside {bounds['supply']['min']:g}–"
                                 f"{bounds['supply']['max']:g} °C (CJJ 34)", field="primary_design_supply_c"))
    if not bounds["return"]["min"] <= t_ret <= bounds["return"]["max"] or t_ret >= t_sup:
        issues.append(InputIssue(f"design return {t_ret:g} °C is outside {bounds['return']['min']:g}–"
                                 f"{bounds['return']['max']:g} °C (CJJ 34) or not below the supply",
                                 field="primary_design_return_c"))
    stations = list(session.scalars(select(Station).where(Station.network_id == reg.id,
                                                          Station.status == "in_service").order_by(Station.code)))
    usable = [s for s in stations if s.lon is not None and s.lat is not None and s.design_load_kw > 0]
    if not usable:
        issues.append(InputIssue(f"network {network_code} has no in-service station with a location and a "
                                 "design load", field="stations"))
    if issues:
        raise InputError("the registered network cannot be simulated", issues)
    src = session.get(HeatSource, reg.heat_source_id) if reg.heat_source_id else None
    if src is not None and src.lon is not None and src.lat is not None:
        lon0, lat0, placed = src.lon, src.lat, "registered"
    else:
        w = sum(s.design_load_kw for s in usable)
        lon0 = sum(s.lon * s.design_load_kw for s in usable) / w
        lat0 = sum(s.lat * s.design_load_kw for s in usable) / w
        placed = "load_centre"
    kx = M_PER_DEG_LON_EQ * math.cos(math.radians(lat0))
    sites = [_Site("SRC", 0.0, 0.0, 0.0, t_ret)]
    sites += [_Site(s.code, (s.lon - lon0) * kx, (s.lat - lat0) * M_PER_DEG_LAT, s.design_load_kw * 1000.0,
                    t_ret) for s in usable]
    parent = _prim_tree(sites)
    route = float(cp["sizing"]["route_factor"])
    rough_m = float(cp["hot_water_roughness_mm"]["value"]) / 1000.0
    cat = pipe_catalogue()
    # design flow of each tree edge: the load below it
    below = [s.load_w for s in sites]
    order = _depth_order(parent)
    for i in reversed(order):
        if parent[i] is not None:
            below[parent[i]] += below[i]
    dt = t_sup - t_ret
    max_r = float(cp["sizing"]["max_specific_loss_pa_per_m"])
    factor = cat.old_pipe_factor if insulation == "old" else 1.0
    nodes, pipes, consumers = [], [], []
    for s in sites:
        nodes.append({"id": f"S-{s.code}", "x_m": round(s.x, 2), "y_m": round(s.y, 2), "side": "supply"})
        nodes.append({"id": f"R-{s.code}", "x_m": round(s.x + 8.0, 2), "y_m": round(s.y - 8.0, 2),
                      "side": "return"})
    loss_to = [0.0] * len(sites)
    for i in order:
        p = parent[i]
        if p is None:
            continue
        a, b = sites[p], sites[i]
        length = math.hypot(b.x - a.x, b.y - a.y) * route
        mdot = below[i] / (CP_J_KGK * dt)
        k = 0
        while k < len(cat.dn) - 1 and specific_loss_pa_per_m(mdot, cat.inner_diameter_m[k], rough_m) > max_r:
            k += 1
        dn, d, u = int(cat.dn[k]), float(cat.inner_diameter_m[k]), float(cat.u_preinsulated_w_per_mk[k]) * factor
        loss_to[i] = loss_to[p] + specific_loss_pa_per_m(mdot, d, rough_m) * length
        common = {"length_m": round(length, 1), "dn": dn, "inner_diameter_mm": round(d * 1000, 1),
                  "u_w_per_mk": round(u, 4), "roughness_mm": rough_m * 1000, "kind": "main",
                  "insulation": insulation}
        pipes.append({"id": f"{a.code}-{b.code}-S", "from": f"S-{a.code}", "to": f"S-{b.code}", "side": "supply",
                      **common})
        pipes.append({"id": f"{a.code}-{b.code}-R", "from": f"R-{b.code}", "to": f"R-{a.code}", "side": "return",
                      **common})
    pr = cp["pressures_bar"]
    station_dp = float(pr["station_min_dp"])
    for s in sites[1:]:
        consumers.append({"id": s.code, "supply_node": f"S-{s.code}", "return_node": f"R-{s.code}",
                          "heat_w": s.load_w, "control": "treturn", "return_temperature_c": s.return_c,
                          "min_dp_bar": station_dp})
    lift = math.ceil((2 * max(loss_to) / 1e5 + station_dp + 0.5) * 10) / 10
    ret_p = float(pr["return_at_source"])
    doc = {"format": NATIVE_FORMAT, "name": f"{reg.code} {reg.name_zh}", "crs": None,
            "ground_temperature_c": float(cp["ground_temperature_c"]["value"]),
            "nodes": nodes, "pipes": pipes, "consumers": consumers,
            "sources": [{"id": src.code if src is not None else "source", "supply_node": "S-SRC",
                         "return_node": "R-SRC", "kind": "pressure", "supply_temperature_c": t_sup,
                         "supply_pressure_bar": ret_p + lift, "lift_bar": lift}],
            "meta": {"registered_network": reg.code, "source_placed": placed, "stations": len(usable),
                     "stations_left_out": [s.code for s in stations if s not in usable]}}
    return _settle_lift(doc, station_dp)


def _settle_lift(doc: dict[str, Any], station_dp_bar: float, rounds: int = 4) -> dict[str, Any]:
    """Raise the source's lift until every station has its differential pressure (plus 0.2 bar): the sizing
    estimate cannot know the flows the stations really draw (their inlet is cooled by the pipes' heat loss)."""
    from cleanheat.network.errors import NetworkSolveError
    from cleanheat.network.io import parse_native
    from cleanheat.network.solver import solve

    src = doc["sources"][0]
    for _ in range(rounds):
        try:
            r = solve(parse_native(doc, "registry"))
        except NetworkSolveError:
            return doc  # the stored run reports it
        short = station_dp_bar + 0.2 - float(min(r.consumer_dp_pa)) / 1e5
        if short <= 0:
            break
        src["lift_bar"] = math.ceil((src["lift_bar"] + short) * 10) / 10
        src["supply_pressure_bar"] = doc["sources"][0]["supply_pressure_bar"] = (
            float(china_practice()["pressures_bar"]["return_at_source"]) + src["lift_bar"])
    return doc


def _prim_tree(sites: list[_Site]) -> list[int | None]:
    """Parent of each site in the shortest tree from site 0 (straight distances)."""
    n = len(sites)
    parent: list[int | None] = [None] * n
    done = [False] * n
    best = [math.inf] * n
    best[0] = 0.0
    heap = [(0.0, 0, -1)]
    while heap:
        d, i, p = heapq.heappop(heap)
        if done[i]:
            continue
        done[i] = True
        parent[i] = None if p < 0 else p
        for j in range(n):
            if not done[j]:
                dj = math.hypot(sites[j].x - sites[i].x, sites[j].y - sites[i].y)
                if dj < best[j]:
                    best[j] = dj
                    heapq.heappush(heap, (dj, j, i))
    return parent


def _depth_order(parent: list[int | None]) -> list[int]:
    """Sites ordered so that each comes after its parent."""
    children: dict[int, list[int]] = {}
    for i, p in enumerate(parent):
        if p is not None:
            children.setdefault(p, []).append(i)
    out, stack = [], [0]
    while stack:
        i = stack.pop()
        out.append(i)
        stack.extend(children.get(i, []))
    return out
