"""The benchmark exchange format ``dhnet-bench/1`` (data/networks/NETWORK_JSON_FORMAT.md): read the network,
write results in its results layout (field by field comparable with ``pandapipes_bench.py --dump-results``)."""

from __future__ import annotations

from typing import Any

import numpy as np

from cleanheat.errors import InputIssue
from cleanheat.network.errors import NetworkInputError
from cleanheat.network.model import Consumers, Network, Nodes, Pipes, Sources
from cleanheat.network.results import NetworkResult

FORMAT_ID = "dhnet-bench/1"
BAR_PA = 1e5


def parse_dhnet_bench(doc: dict[str, Any], file: str | None = None) -> Network:
    """Build a :class:`Network` from a parsed ``dhnet-bench/1`` document."""
    if doc.get("format") != FORMAT_ID:
        raise NetworkInputError(f"not a {FORMAT_ID} document",
                                [InputIssue(f"format is {doc.get('format')!r}, expected {FORMAT_ID!r}", file=file,
                                            field="format")])
    issues: list[InputIssue] = []

    def col(rows: list[dict], section: str, key: str, default=None, cast=float) -> np.ndarray:
        out = []
        for i, r in enumerate(rows):
            v = r.get(key, default)
            if v is None:
                issues.append(InputIssue(f"missing {key}", file=file, sheet=section, row=i, field=key))
                v = 0
            try:
                out.append(cast(v))
            except (TypeError, ValueError):
                issues.append(InputIssue(f"{key} is not a number: {v!r}", file=file, sheet=section, row=i, field=key))
                out.append(cast(0))
        return np.asarray(out)

    for key in ("nodes", "pipes", "consumers", "source"):
        if key not in doc:
            issues.append(InputIssue(f"missing section {key!r}", file=file, field=key))
    if issues:
        raise NetworkInputError(f"{file or 'document'}: not a valid {FORMAT_ID} network", issues)
    nodes, pipes, cons, src = doc["nodes"], doc["pipes"], doc["consumers"], doc["source"]
    ids = col(nodes, "nodes", "id", cast=int)
    if not np.array_equal(ids, np.arange(len(nodes))):
        issues.append(InputIssue("node ids must be 0..n-1 in order", file=file, sheet="nodes", field="id"))
    ground = float(doc.get("ambient", {}).get("ground_temperature_k", 278.15))
    nd = Nodes.build(len(nodes), id=[str(i) for i in range(len(nodes))], x_m=col(nodes, "nodes", "x_m", 0.0),
                     y_m=col(nodes, "nodes", "y_m", 0.0), z_m=col(nodes, "nodes", "z_m", 0.0),
                     side=[n.get("side", "other") for n in nodes])
    pp = Pipes.build(
        col(pipes, "pipes", "from", cast=int), col(pipes, "pipes", "to", cast=int),
        col(pipes, "pipes", "length_m"), col(pipes, "pipes", "inner_diameter_m"),
        id=[str(p.get("id", i)) for i, p in enumerate(pipes)], roughness_m=col(pipes, "pipes", "roughness_m"),
        u_w_per_mk=col(pipes, "pipes", "u_w_per_mk"),
        ground_temperature_k=col(pipes, "pipes", "ground_temperature_k", ground),
        zeta=col(pipes, "pipes", "minor_loss_coefficient", 0.0), dn=col(pipes, "pipes", "dn", 0, int),
        side=[p.get("side", "other") for p in pipes], kind=[p.get("kind", "pipe") for p in pipes],
    )
    model = doc.get("consumer_model", "treturn")
    if model not in ("treturn", "deltat"):
        issues.append(InputIssue(f"consumer_model {model!r} is neither treturn nor deltat", file=file,
                                 field="consumer_model"))
    n_c = len(cons)
    cc = Consumers.build(
        col(cons, "consumers", "supply_node", cast=int), col(cons, "consumers", "return_node", cast=int),
        col(cons, "consumers", "heat_demand_w"), id=[str(c.get("id", i)) for i, c in enumerate(cons)],
        control=[model] * n_c,
        return_temperature_k=col(cons, "consumers", "return_temperature_k") if model == "treturn" else None,
        delta_t_k=col(cons, "consumers", "delta_t_k") if model == "deltat" else None,
        min_dp_pa=np.full(n_c, float(doc.get("min_consumer_dp_bar", 0.3)) * BAR_PA),
    )
    srcs = src if isinstance(src, list) else [src]
    kinds = []
    for i, s in enumerate(srcs):
        t = s.get("type", "circulation_pump_const_pressure")
        if t == "circulation_pump_const_pressure":
            kinds.append("pressure")
        elif t == "circulation_pump_mass":
            kinds.append("flow")
        else:
            issues.append(InputIssue(f"unknown source type {t!r}", file=file, sheet="source", row=i, field="type"))
            kinds.append("pressure")
    ss = Sources.build(
        col(srcs, "source", "supply_node", cast=int), col(srcs, "source", "return_node", cast=int),
        col(srcs, "source", "supply_temperature_k"), id=[str(s.get("id", i)) for i, s in enumerate(srcs)],
        kind=kinds,
        supply_pressure_pa=np.array([float(s.get("supply_pressure_bar", np.nan)) * BAR_PA for s in srcs]),
        lift_pa=np.array([float(s.get("pressure_lift_bar", np.nan)) * BAR_PA for s in srcs]),
        mass_flow_kg_s=np.array([float(s.get("mass_flow_kg_per_s", np.nan)) for s in srcs]),
    )
    if issues:
        raise NetworkInputError(f"{file or 'document'}: invalid {FORMAT_ID} network", issues)
    net = Network(nodes=nd, pipes=pp, consumers=cc, sources=ss, name=doc.get("description", "dhnet-bench network"),
                  ground_temperature_k=ground, meta={"format": FORMAT_ID, "generator": doc.get("generator", {})})
    return net.validate(file)


def dhnet_results(result: NetworkResult) -> dict[str, Any]:
    """The result in the ``dhnet-bench/1`` results layout (``nodes.p_bar``, ``pipes.mdot_kg_per_s``, ...)."""
    r = result
    s = r.summary()
    return {
        "format": FORMAT_ID + "-results",
        "solver": "cleanheat.network",
        "options": {k: v for k, v in r.options.__dict__.items()},
        "nodes": {"p_bar": (r.node_p_pa / BAR_PA).tolist(), "t_k": r.node_t_k.tolist()},
        "pipes": {"mdot_kg_per_s": r.pipe_mdot_kg_s.tolist(), "t_outlet_k": r.pipe_t_out_k.tolist(),
                  "reynolds": r.branch_reynolds[: r.n_pipes].tolist(), "lambda": r.branch_lambda[: r.n_pipes].tolist(),
                  "v_m_per_s": r.pipe_velocity_m_s.tolist(), "heat_loss_w": r.pipe_heat_loss_w.tolist()},
        "consumers": {"mdot_kg_per_s": r.consumer_mdot_kg_s.tolist(), "t_in_k": r.consumer_t_in_k.tolist(),
                      "t_out_k": r.consumer_t_out_k.tolist(), "dp_bar": (r.consumer_dp_pa / BAR_PA).tolist()},
        "summary": s,
        "warnings": [w.as_dict() for w in r.warnings],
        "residuals_k": r.residuals_k,
    }
