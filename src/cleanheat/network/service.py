"""Use cases of the network area: store networks, solve them, run seasonal and renovation analyses.

Every function takes ``(session, actor, ...)``, checks the role and the organisation, writes the audit log for
every write and never commits (the caller's scope does). Heat companies see and change their own networks;
the programme office sees every network (read only); administrators do everything.

A solve that does not converge is not an exception here: it is stored as a run with ``status == "failed"``,
its error and its residual history, so that the page and the API can show why.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

import numpy as np
from sqlalchemy import delete, insert, select
from sqlalchemy.orm import Session

from cleanheat.auth.roles import Role
from cleanheat.auth.service import Actor, audit, get_org_by_code
from cleanheat.config import Settings
from cleanheat.errors import ConflictError, InputError, InputIssue, NotFoundError, PermissionDeniedError
from cleanheat.network.analysis import (
    already_preinsulated,
    assume_old_insulation,
    heat_value,
    heating_season_conditions,
    renovation,
    seasonal_heat_loss,
)
from cleanheat.network.errors import NetworkSolveError, NonConvergenceError
from cleanheat.network.friction import MODELS
from cleanheat.network.io import FORMATS, dump_native, parse_native, parse_network, result_json
from cleanheat.network.model import Network
from cleanheat.network.solver import solve
from cleanheat.network.tables import NetworkRun, PipeResult, StoredNetwork
from cleanheat.tabular import csv_cell

READ_ROLES = (Role.HEAT_COMPANY, Role.PROGRAMME_OFFICE)
WRITE_ROLES = (Role.HEAT_COMPANY,)
K0 = 273.15
BAR = 1e5


# --- scoping ---------------------------------------------------------------------------------------------

def _scope(query, actor: Actor):
    if actor.city_wide:
        return query
    return query.where(StoredNetwork.org_id == actor.org_id)


def can_write(actor: Actor, net: StoredNetwork) -> bool:
    return actor.role == Role.ADMIN or (actor.role in WRITE_ROLES and net.org_id == actor.org_id)


def _require_write(actor: Actor, net: StoredNetwork) -> None:
    actor.require_roles(*WRITE_ROLES)
    if not can_write(actor, net):
        raise PermissionDeniedError("only the company that owns this network may change or solve it")


def list_networks(session: Session, actor: Actor) -> list[StoredNetwork]:
    actor.require_roles(*READ_ROLES)
    return list(session.scalars(_scope(select(StoredNetwork), actor).order_by(StoredNetwork.org_id,
                                                                               StoredNetwork.name)))


def get_network(session: Session, actor: Actor, network_id: int) -> StoredNetwork:
    """A network the actor may see (another company's network is 'not found', it is not revealed)."""
    actor.require_roles(*READ_ROLES)
    net = session.scalar(_scope(select(StoredNetwork), actor).where(StoredNetwork.id == network_id))
    if net is None:
        raise NotFoundError(f"network {network_id} not found")
    return net


def get_run(session: Session, actor: Actor, run_id: int) -> NetworkRun:
    actor.require_roles(*READ_ROLES)
    run = session.scalar(_scope(select(NetworkRun).join(StoredNetwork), actor).where(NetworkRun.id == run_id))
    if run is None:
        raise NotFoundError(f"run {run_id} not found")
    return run


def list_runs(session: Session, actor: Actor, network_id: int, kind: str | None = None) -> list[NetworkRun]:
    net = get_network(session, actor, network_id)
    q = select(NetworkRun).where(NetworkRun.network_id == net.id).order_by(NetworkRun.id.desc())
    if kind:
        q = q.where(NetworkRun.kind == kind)
    return list(session.scalars(q))


def latest_run(session: Session, actor: Actor, network_id: int, kind: str = "solve",
               ok_only: bool = True) -> NetworkRun | None:
    net = get_network(session, actor, network_id)
    q = select(NetworkRun).where(NetworkRun.network_id == net.id, NetworkRun.kind == kind)
    if ok_only:
        q = q.where(NetworkRun.status == "ok")
    return session.scalar(q.order_by(NetworkRun.id.desc()).limit(1))


def model_of(stored: StoredNetwork) -> Network:
    """The stored network as a solver model."""
    return parse_native(stored.model, f"network {stored.id}")


# --- import ----------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class ImportOptions:
    """Options of an upload: the format (guessed when None) and, for GeoJSON, the design temperatures."""

    fmt: str | None = None
    name: str | None = None
    description: str = ""
    supply_temperature_c: float | None = None
    return_temperature_c: float | None = None
    #: GeoJSON: the state of the existing pipes' insulation (pre-insulated | old), as the CLI's --insulation
    insulation: str | None = None
    org_code: str | None = None  # administrators only: store for this company


def import_network(session: Session, actor: Actor, data: bytes, filename: str, opts: ImportOptions | None = None,
                   *, solve_now: bool = True) -> StoredNetwork:
    """Parse ``data`` (all or nothing: a bad file raises ``NetworkInputError`` listing every problem with
    where it is), store it for the actor's company and, by default, solve it once."""
    actor.require_roles(*WRITE_ROLES)
    opts = opts or ImportOptions()
    if opts.fmt is not None and opts.fmt not in FORMATS:
        raise InputError("unknown format", [InputIssue(f"format must be one of {', '.join(FORMATS)}",
                                                       field="format")])
    org_id = actor.org_id
    if opts.org_code:
        if actor.role != Role.ADMIN:
            raise PermissionDeniedError("only an administrator may store a network for another organisation")
        org_id = get_org_by_code(session, opts.org_code).id
    if org_id is None:
        raise PermissionDeniedError("the actor belongs to no organisation")
    geo: dict[str, Any] = {}
    if opts.supply_temperature_c is not None:
        geo["supply_temperature_c"] = float(opts.supply_temperature_c)
    if opts.return_temperature_c is not None:
        geo["return_temperature_c"] = float(opts.return_temperature_c)
    if opts.insulation:
        geo["insulation"] = opts.insulation
    net = parse_network(data, filename, opts.fmt, **geo)
    name = (opts.name or "").strip() or net.name or filename
    if session.scalar(select(StoredNetwork.id).where(StoredNetwork.org_id == org_id, StoredNetwork.name == name)):
        raise ConflictError(f"a network named {name!r} already exists for this company; choose another name")
    net = net.replace(name=name)
    stored = StoredNetwork(
        org_id=org_id, name=name[:200], description=opts.description, source_format=net.meta.get("format", "native"),
        source_filename=filename[:300], crs=net.crs, n_nodes=net.n_nodes, n_pipes=len(net.pipes),
        n_consumers=len(net.consumers), n_sources=len(net.sources),
        total_length_m=float(np.sum(net.pipes.length_m)), design_heat_w=float(np.sum(net.consumers.heat_w)),
        model=dump_native(net), created_by=actor.actor,
    )
    session.add(stored)
    session.flush()
    audit(session, actor, "create", "network", stored.id,
          {"name": name, "format": stored.source_format, "file": filename, "pipes": stored.n_pipes,
           "consumers": stored.n_consumers}, summary=f"导入热网 {name}")
    if solve_now:
        solve_network(session, actor, stored.id)
    return stored


def import_registered(session: Session, actor: Actor, network_code: str, *, insulation: str = "pre-insulated",
                      solve_now: bool = True) -> StoredNetwork:
    """Store (and solve) the actor's registered network ``network_code`` with its stations as a simulation
    model laid out and sized following Chinese practice (:mod:`cleanheat.network.registry`)."""
    import json

    from cleanheat.network.registry import network_document

    actor.require_roles(*WRITE_ROLES)
    doc = network_document(session, actor, network_code, insulation=insulation)
    meta = doc.pop("meta")
    placed = {"registered": "热源按登记位置 / source at its registered location",
              "load_centre": "热源未登记位置，置于各站负荷中心 / source has no registered location: placed at the "
                             "load-weighted centre of the stations"}[meta["source_placed"]]
    desc = (f"由资产登记的热网 {network_code} 及其 {meta['stations']} 座换热站生成（按 CJJ 34 设计取值）；{placed}"
            f" — built from the registered network {network_code} and its stations")
    if meta["stations_left_out"]:
        desc += f"; 未含（无位置或负荷）/ left out (no location or load): {', '.join(meta['stations_left_out'])}"
    return import_network(session, actor, json.dumps(doc, ensure_ascii=False).encode("utf-8"),
                          f"registry/{network_code}.json",
                          ImportOptions(fmt="native", name=doc["name"], description=desc), solve_now=solve_now)


def delete_network(session: Session, actor: Actor, network_id: int) -> None:
    net = get_network(session, actor, network_id)
    _require_write(actor, net)
    run_ids = list(session.scalars(select(NetworkRun.id).where(NetworkRun.network_id == net.id)))
    if run_ids:
        session.execute(delete(PipeResult).where(PipeResult.run_id.in_(run_ids)))
        session.execute(delete(NetworkRun).where(NetworkRun.id.in_(run_ids)))
    audit(session, actor, "delete", "network", net.id, {"name": net.name}, summary=f"删除热网 {net.name}")
    session.delete(net)
    session.flush()


# --- solve -----------------------------------------------------------------------------------------------

def solve_options(pandapipes_compatible: bool = False, friction_model: str | None = None) -> dict[str, Any]:
    if friction_model is not None and friction_model not in MODELS:
        raise InputError("unknown friction model", [InputIssue(f"friction_model must be one of {', '.join(MODELS)}",
                                                               field="friction_model")])
    return {"pandapipes_compatible": bool(pandapipes_compatible), "friction_model": friction_model}


def solve_network(session: Session, actor: Actor, network_id: int, *, pandapipes_compatible: bool = False,
                  friction_model: str | None = None) -> NetworkRun:
    """Solve the stored network and keep the result (or the failure) as a run."""
    stored = get_network(session, actor, network_id)
    _require_write(actor, stored)
    options = solve_options(pandapipes_compatible, friction_model)
    net = model_of(stored)
    run = NetworkRun(network_id=stored.id, kind="solve", options=options, created_by=actor.actor)
    try:
        result = solve(net, {"friction_model": friction_model} if friction_model else None,
                       pandapipes_compatible=pandapipes_compatible, validate=False)
    except NetworkSolveError as exc:
        run.status = "failed"
        run.error = str(exc)
        if isinstance(exc, NonConvergenceError):
            run.detail = {"stage": exc.stage, "iterations": exc.iterations,
                          "residuals": [r if math.isfinite(r) else None for r in exc.residuals[-50:]],
                          "residual_unit": exc.residual_unit}
        session.add(run)
        session.flush()
        audit(session, actor, "solve", "network_run", run.id, {"network": stored.id, "status": "failed"},
              summary=f"热网计算未收敛 {stored.name}")
        return run
    doc = result_json(result)
    run.summary = doc["summary"]
    run.warnings = doc["warnings"]
    run.detail = {"nodes": doc["nodes"], "consumers": doc["consumers"], "sources": doc["sources"],
                  "residuals_k": [float(x) for x in doc["residuals_k"]]}
    run.solve_s = float(result.solve_s)
    session.add(run)
    session.flush()
    _store_pipes(session, run.id, net, result)
    audit(session, actor, "solve", "network_run", run.id,
          {"network": stored.id, "status": "ok", "options": options,
           "source_heat_w": run.summary.get("source_heat_w")}, summary=f"热网计算 {stored.name}")
    return run


def _store_pipes(session: Session, run_id: int, net: Network, r) -> None:
    p = net.pipes
    n = len(p)
    if not n:
        return
    p_pa = r.node_p_pa
    cols = {
        "mdot_kg_s": r.pipe_mdot_kg_s, "velocity_m_s": r.pipe_velocity_m_s,
        "p_from_pa": p_pa[p.from_node], "p_to_pa": p_pa[p.to_node],
        "t_in_c": r.branch_t_in_k[:n] - K0, "t_out_c": r.pipe_t_out_k - K0,
        "heat_loss_w": r.pipe_heat_loss_w, "heat_loss_w_per_m": r.pipe_heat_loss_w / p.length_m,
    }
    cols = {k: np.nan_to_num(np.asarray(v, dtype=float)).tolist() for k, v in cols.items()}
    ids = [str(x)[:100] for x in p.id]
    keys = list(cols)
    rows = [dict(zip(keys, vals, strict=True), run_id=run_id, pipe_index=i, pipe_id=ids[i])
            for i, vals in enumerate(zip(*(cols[k] for k in keys), strict=True))]
    for k in range(0, n, 20000):
        session.execute(insert(PipeResult), rows[k:k + 20000])


def pipe_results(session: Session, actor: Actor, run_id: int) -> list[PipeResult]:
    run = get_run(session, actor, run_id)
    return list(session.scalars(select(PipeResult).where(PipeResult.run_id == run.id)
                                .order_by(PipeResult.pipe_index)))


def worst_pipes(session: Session, actor: Actor, run_id: int, top: int = 20) -> list[dict]:
    """The pipes with the highest heat loss per metre in a solve (W/m = kW/km), with their catalogue data."""
    run = get_run(session, actor, run_id)
    rows = list(session.scalars(select(PipeResult).where(PipeResult.run_id == run.id)
                                .order_by(PipeResult.heat_loss_w_per_m.desc(), PipeResult.pipe_index).limit(top)))
    pipes = run.network.model["pipes"]
    out = []
    for row in rows:
        p = pipes[row.pipe_index]
        out.append({"pipe": row.pipe_id, "index": row.pipe_index, "side": p.get("side", ""), "dn": p.get("dn", 0),
                    "inner_diameter_mm": p.get("inner_diameter_mm"), "length_m": p["length_m"],
                    "u_w_per_mk": p.get("u_w_per_mk"), "heat_loss_w": row.heat_loss_w,
                    "heat_loss_kw_per_km": row.heat_loss_w_per_m, "t_in_c": row.t_in_c,
                    "velocity_m_s": row.velocity_m_s, "mdot_kg_s": row.mdot_kg_s})
    return out


# --- analyses --------------------------------------------------------------------------------------------

def _seasonal_checked(session: Session, actor: Actor, network_id: int, bin_k: float) -> StoredNetwork:
    stored = get_network(session, actor, network_id)
    _require_write(actor, stored)
    if not 0.5 <= bin_k <= 10:
        raise InputError("bad bin width", [InputIssue("bin_k must be between 0.5 and 10 K", field="bin_k")])
    return stored


def submit_seasonal(session: Session, actor: Actor, network_id: int, *, bin_k: float = 2.0):
    """Queue the seasonal analysis of a network as a job (``network.seasonal``), after the same checks."""
    from cleanheat.jobs import queue

    stored = _seasonal_checked(session, actor, network_id, bin_k)
    return queue.submit(session, actor, "network.seasonal", {"network_id": stored.id, "bin_k": bin_k},
                        title=f"采暖季热损失分析 · {stored.name}", title_en=f"Seasonal heat loss · {stored.name}")


def seasonal_analysis(session: Session, actor: Actor, settings: Settings, network_id: int, *, bin_k: float = 2.0,
                      top: int = 30, progress: Callable[[int, int], None] | None = None) -> NetworkRun:
    """Seasonal heat loss with Harbin's hourly weather (bin method): GJ per season, per pipe, ranked per km;
    ``progress(done, bins)`` after each weather bin."""
    stored = _seasonal_checked(session, actor, network_id, bin_k)
    net = model_of(stored)
    season = heating_season_conditions(settings.city_dir, bin_k=bin_k)
    run = NetworkRun(network_id=stored.id, kind="seasonal", options={"bin_k": bin_k}, created_by=actor.actor)
    try:
        loss = seasonal_heat_loss(net, season, progress=progress)
    except NetworkSolveError as exc:
        return _failed(session, actor, stored, run, exc)
    doc = loss.as_dict(net, top)
    run.summary = {"heat_loss_gj": loss.heat_loss_gj, "heat_delivered_gj": loss.heat_delivered_gj,
                   "heat_source_gj": loss.heat_source_gj, "heat_loss_pct": loss.loss_pct, "hours": loss.hours,
                   "weather": season.source}
    run.detail = {"bins": doc["bins"], "worst_pipes_per_km": _with_side(doc["worst_pipes_per_km"], net)}
    session.add(run)
    session.flush()
    audit(session, actor, "analyse", "network_run", run.id, {"network": stored.id, "kind": "seasonal",
                                                              "heat_loss_gj": loss.heat_loss_gj},
          summary=f"采暖季热损失分析 {stored.name}")
    return run


def _with_side(rows: list[dict], net: Network) -> list[dict]:
    index = {str(k): i for i, k in enumerate(net.pipes.id)}
    return [r | {"side": str(net.pipes.side[index[r["pipe"]]]),
                 "u_w_per_mk": float(net.pipes.u_w_per_mk[index[r["pipe"]]])} for r in rows]


def parse_price(value: str | Decimal | None) -> Decimal | None:
    if value is None or str(value).strip() == "":
        return None
    try:
        price = Decimal(str(value).strip())
    except InvalidOperation as exc:
        raise InputError("bad price", [InputIssue(f"price {value!r} is not a number", field="price_yuan_per_gj")]) \
            from exc
    if not price.is_finite() or price <= 0:
        raise InputError("bad price", [InputIssue("price must be > 0 元/GJ", field="price_yuan_per_gj")])
    return price


@dataclass(frozen=True)
class RenovationAsk:
    """A renovation scenario as asked for and checked: the pipes to replace (the ``worst`` N are added when the
    seasonal losses are known), the supply temperature change [K], the heat price [yuan/GJ] (None: the
    default) and the assumed state of the existing pipes ("" as stored, "old")."""

    pipes: tuple[str, ...]
    worst: int
    supply_offset_k: float
    price_yuan_per_gj: Decimal | None
    existing_insulation: str

    def as_params(self) -> dict[str, Any]:
        return {"pipes": list(self.pipes), "worst": self.worst, "supply_offset_k": self.supply_offset_k,
                "price_yuan_per_gj": None if self.price_yuan_per_gj is None else str(self.price_yuan_per_gj),
                "existing_insulation": self.existing_insulation}


def _renovation_checked(session: Session, actor: Actor, network_id: int, *, pipe_ids, worst: int,
                        supply_offset_k: float, price_yuan_per_gj, existing_insulation: str
                        ) -> tuple[StoredNetwork, Network, RenovationAsk]:
    stored = get_network(session, actor, network_id)
    _require_write(actor, stored)
    price = parse_price(price_yuan_per_gj)
    if worst < 0 or worst > 10000:
        raise InputError("bad count", [InputIssue("worst must be between 0 and 10000", field="worst")])
    if not -40.0 <= supply_offset_k <= 20.0:
        raise InputError("bad offset", [InputIssue("supply_offset_k must be between -40 and +20 K",
                                                   field="supply_offset_k")])
    chosen = [str(p).strip() for p in pipe_ids if str(p).strip()]
    if not chosen and not worst and not supply_offset_k:
        raise InputError("nothing to change", [InputIssue("choose pipes to replace or a supply temperature change",
                                                          field="pipes")])
    if existing_insulation not in ("", "pre-insulated", "old"):
        raise InputError("bad insulation", [InputIssue("existing_insulation must be pre-insulated or old",
                                                       field="existing_insulation")])
    net = model_of(stored)
    if chosen:
        already_preinsulated(net, chosen)  # unknown pipe ids: refused here, before any work
    return stored, net, RenovationAsk(tuple(dict.fromkeys(chosen)), worst, float(supply_offset_k), price,
                                      existing_insulation)


def submit_renovation(session: Session, actor: Actor, network_id: int, *, pipe_ids: list[str] | tuple[str, ...] = (),
                      worst: int = 0, supply_offset_k: float = 0.0, price_yuan_per_gj: str | Decimal | None = None,
                      existing_insulation: str = ""):
    """Queue a renovation scenario as a job (``network.renovation``), after the checks of
    ``renovation_scenario`` (a bad input is refused now, not in the job)."""
    from cleanheat.jobs import queue

    stored, _net, ask = _renovation_checked(
        session, actor, network_id, pipe_ids=pipe_ids, worst=worst, supply_offset_k=supply_offset_k,
        price_yuan_per_gj=price_yuan_per_gj, existing_insulation=existing_insulation)
    return queue.submit(session, actor, "network.renovation", {"network_id": stored.id, **ask.as_params()},
                        title=f"改造方案 · {stored.name}", title_en=f"Renovation scenario · {stored.name}")


def renovation_scenario(session: Session, actor: Actor, settings: Settings, network_id: int, *,
                        pipe_ids: list[str] | tuple[str, ...] = (), worst: int = 0, supply_offset_k: float = 0.0,
                        price_yuan_per_gj: str | Decimal | None = None, bin_k: float = 2.0,
                        existing_insulation: str = "",
                        progress: Callable[[float, str], None] | None = None) -> NetworkRun:
    """Replace pipes with pre-insulated ones and/or change the supply temperature: GJ and yuan saved per season.

    ``worst`` adds the N pipes with the highest seasonal loss per km to ``pipe_ids``. ``existing_insulation``
    "old" assumes the network's pipes are old trench pipes with degraded insulation (as the CLI's
    ``--insulation old``); "" keeps the stored state. ``progress(fraction [0..1], message)`` after each weather
    bin of the present network and before the scenario's season."""
    stored, net, ask = _renovation_checked(
        session, actor, network_id, pipe_ids=pipe_ids, worst=worst, supply_offset_k=supply_offset_k,
        price_yuan_per_gj=price_yuan_per_gj, existing_insulation=existing_insulation)
    chosen, price = list(ask.pipes), ask.price_yuan_per_gj
    if existing_insulation == "old":
        net = assume_old_insulation(net)
    season = heating_season_conditions(settings.city_dir, bin_k=bin_k)
    run = NetworkRun(network_id=stored.id, kind="renovation", created_by=actor.actor)
    try:
        base = seasonal_heat_loss(net, season, progress=None if progress is None else (
            lambda k, n: progress(0.5 * k / n, f"现状 气象区间 {k} / {n} / present network, weather bin {k} / {n}")))
        if progress is not None:
            progress(0.5, "改造后的管网 / the renovated network")
        if worst:
            chosen += [r["pipe"] for r in base.ranking(net, worst) if r["pipe"] not in chosen]
        res = renovation(net, season, replace=chosen, supply_offset_k=supply_offset_k, price_yuan_per_gj=price,
                         base=base)
    except NetworkSolveError as exc:
        return _failed(session, actor, stored, run, exc)
    d = res.as_dict()
    run.options = {"pipes": chosen, "worst": worst, "supply_offset_k": supply_offset_k,
                   "existing_insulation": existing_insulation or "as_stored",
                   "price_yuan_per_gj": d["price_yuan_per_gj"], "bin_k": bin_k}
    run.summary = d
    if res.already_preinsulated:  # replacing these saves nothing: say so with the result
        run.warnings = [{"code": "already_preinsulated", "message_zh": res.note_zh, "message_en": res.note_en,
                         "ids": list(res.already_preinsulated)}]
    run.saved_gj = res.saved_gj
    run.saved_yuan = res.saved_yuan
    run.detail = {"pipes": chosen}
    session.add(run)
    session.flush()
    audit(session, actor, "analyse", "network_run", run.id,
          {"network": stored.id, "kind": "renovation", "pipes": len(chosen), "supply_offset_k": supply_offset_k,
           "saved_gj": res.saved_gj, "saved_yuan": str(res.saved_yuan)}, summary=f"改造方案 {stored.name}")
    return run


def _failed(session: Session, actor: Actor, stored: StoredNetwork, run: NetworkRun,
            exc: NetworkSolveError) -> NetworkRun:
    run.status = "failed"
    run.error = str(exc)
    session.add(run)
    session.flush()
    audit(session, actor, "analyse", "network_run", run.id, {"network": stored.id, "kind": run.kind,
                                                              "status": "failed"})
    return run


def default_price() -> tuple[Decimal, str]:
    hv = heat_value()
    return Decimal(str(hv["price_yuan_per_gj"])), str(hv["source"])


# --- results out -----------------------------------------------------------------------------------------

PIPE_COLUMNS = ("mdot_kg_s", "velocity_m_s", "p_from_pa", "p_to_pa", "t_in_c", "t_out_c", "heat_loss_w",
                "heat_loss_w_per_m")


def _pipe_columns(rows: list[PipeResult]) -> dict[str, list]:
    return {"id": [r.pipe_id for r in rows]} | {c: [getattr(r, c) for r in rows] for c in PIPE_COLUMNS}


def _solved_run(session: Session, actor: Actor, run_id: int) -> NetworkRun:
    run = get_run(session, actor, run_id)
    if run.kind != "solve" or run.status != "ok":
        raise NotFoundError(f"run {run_id} has no solved state to download")
    return run


def run_result_json(session: Session, actor: Actor, run_id: int) -> dict[str, Any]:
    """A stored solve as columnar JSON (``cleanheat-network-result/1``, as ``cleanheat network solve -o``)."""
    run = _solved_run(session, actor, run_id)
    rows = pipe_results(session, actor, run_id)
    cols = _pipe_columns(rows)
    pipes = {"id": cols["id"], "mdot_kg_s": cols["mdot_kg_s"], "velocity_m_s": cols["velocity_m_s"],
             "dp_bar": [(a - b) / BAR for a, b in zip(cols["p_from_pa"], cols["p_to_pa"], strict=True)],
             "t_in_c": cols["t_in_c"], "t_out_c": cols["t_out_c"], "heat_loss_w": cols["heat_loss_w"],
             "heat_loss_w_per_m": cols["heat_loss_w_per_m"]}
    return {"format": "cleanheat-network-result/1", "network": run.network.name, "run": run.id,
            "options": run.options, "summary": run.summary, "warnings": run.warnings,
            "nodes": run.detail.get("nodes"), "pipes": pipes, "consumers": run.detail.get("consumers"),
            "sources": run.detail.get("sources")}


def run_result_geojson(session: Session, actor: Actor, run_id: int) -> dict[str, Any]:
    """Pipes as LineStrings in the network's coordinates with their results as properties."""
    run = _solved_run(session, actor, run_id)
    model = run.network.model
    xy = {n["id"]: (n.get("x_m", 0.0), n.get("y_m", 0.0)) for n in model["nodes"]}
    feats = []
    for row in pipe_results(session, actor, run_id):
        p = model["pipes"][row.pipe_index]
        props = {"id": row.pipe_id, "side": p.get("side", ""), "dn": p.get("dn", 0), "length_m": p["length_m"]}
        props |= {c: getattr(row, c) for c in PIPE_COLUMNS}
        feats.append({"type": "Feature", "properties": props,
                      "geometry": {"type": "LineString", "coordinates": [list(xy[p["from"]]), list(xy[p["to"]])]}})
    doc: dict[str, Any] = {"type": "FeatureCollection", "features": feats}
    crs = run.network.crs
    if crs and crs.upper().startswith("EPSG:"):
        doc["crs"] = {"type": "name", "properties": {"name": "urn:ogc:def:crs:EPSG::" + crs.split(":")[1]}}
    return doc


CSV_TABLES = ("pipes", "nodes", "consumers", "sources")


def run_result_csv(session: Session, actor: Actor, run_id: int, table: str = "pipes") -> str:
    if table not in CSV_TABLES:
        raise InputError("unknown table", [InputIssue(f"table must be one of {', '.join(CSV_TABLES)}", field="table")])
    doc = run_result_json(session, actor, run_id)
    cols = doc[table] or {}
    buf = io.StringIO()
    w = csv.writer(buf)
    keys = list(cols)
    w.writerow([csv_cell(k) for k in keys])
    w.writerows([csv_cell(v) for v in row] for row in zip(*(cols[k] for k in keys), strict=True))
    return buf.getvalue()


def map_data(session: Session, actor: Actor, network_id: int, run_id: int | None = None) -> dict[str, Any]:
    """What the network page draws: pipe segments with their results, consumers and sources with theirs."""
    stored = get_network(session, actor, network_id)
    run = get_run(session, actor, run_id) if run_id else latest_run(session, actor, network_id)
    if run is not None and (run.network_id != stored.id or run.kind != "solve" or run.status != "ok"):
        raise NotFoundError(f"run {run_id} is not a solve of network {network_id}")
    model = stored.model
    idx = {n["id"]: i for i, n in enumerate(model["nodes"])}
    x = [n.get("x_m", 0.0) for n in model["nodes"]]
    y = [n.get("y_m", 0.0) for n in model["nodes"]]
    pm = model["pipes"]
    a = [idx[p["from"]] for p in pm]
    b = [idx[p["to"]] for p in pm]
    pipes: dict[str, list] = {
        "id": [p["id"] for p in pm], "side": [p.get("side", "") for p in pm], "dn": [p.get("dn", 0) for p in pm],
        "length_m": [p["length_m"] for p in pm], "x1": [x[i] for i in a], "y1": [y[i] for i in a],
        "x2": [x[i] for i in b], "y2": [y[i] for i in b],
    }
    if run is not None:
        rows = pipe_results(session, actor, run.id)
        cols = _pipe_columns(rows)
        for c in PIPE_COLUMNS:
            pipes[c] = [_r(v) for v in cols[c]]
    cm = model["consumers"]
    consumers: dict[str, list] = {"id": [c["id"] for c in cm], "x": [x[idx[c["supply_node"]]] for c in cm],
                                  "y": [y[idx[c["supply_node"]]] for c in cm],
                                  "heat_w": [c["heat_w"] for c in cm]}
    sm = model["sources"]
    sources: dict[str, list] = {"id": [s["id"] for s in sm], "x": [x[idx[s["supply_node"]]] for s in sm],
                                "y": [y[idx[s["supply_node"]]] for s in sm],
                                "supply_temperature_c": [s["supply_temperature_c"] for s in sm]}
    if run is not None:
        dc = run.detail.get("consumers") or {}
        for k in ("mdot_kg_s", "t_in_c", "t_out_c", "dp_bar", "heat_w"):
            consumers["r_" + k] = dc.get(k, [])
        ds = run.detail.get("sources") or {}
        for k in ("mdot_kg_s", "t_return_c", "heat_w", "pump_power_w"):
            sources["r_" + k] = ds.get(k, [])
    has_xy = any(v != 0.0 for v in x) or any(v != 0.0 for v in y)
    return {"network": stored.id, "name": stored.name, "crs": stored.crs, "run": run.id if run else None,
            "has_coordinates": has_xy, "pipes": pipes, "consumers": consumers, "sources": sources}


def _r(v: float) -> float | None:
    if v is None or not math.isfinite(v):
        return None
    return float(f"{v:.6g}")
