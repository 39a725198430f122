"""District-heating network model: column tables of numpy arrays (fast for city-size networks).

A :class:`Network` holds nodes, pipes, consumers (building substations or heat-exchange stations), heat
sources, and optional in-line pumps and valves. Node references are 0-based row indices into ``nodes``;
every table also carries string ``id``s used in files and reports.

Sign conventions: a branch (pipe, pump, valve) runs ``from_node -> to_node``; a negative mass flow in the
result means flow ``to -> from``. A consumer takes water from its ``supply_node`` and returns it to its
``return_node``. A source takes water from its ``return_node`` and delivers it, heated, to its
``supply_node``.

Units are SI in the names: ``_m``, ``_k`` (temperatures in K), ``_pa`` (gauge pressure), ``_w``, ``_kg_s``.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields, replace

import numpy as np

from cleanheat.errors import InputIssue
from cleanheat.network.errors import NetworkInputError

SIDES = ("supply", "return", "other")
CONSUMER_CONTROLS = ("treturn", "deltat")
SOURCE_KINDS = ("pressure", "flow")


def _f(a, n=None, default=None) -> np.ndarray:
    if a is None:
        if default is None:
            raise ValueError("missing column")
        return np.full(n, default, dtype=float)
    return np.asarray(a, dtype=float)


def _ids(ids, n: int, prefix: str) -> np.ndarray:
    if ids is None:
        return np.array([f"{prefix}{i}" for i in range(n)], dtype=object)
    return np.asarray([str(i) for i in ids], dtype=object)


class _Table:
    """Shared helpers: length, subset, replacement of columns."""

    def __len__(self) -> int:
        return len(self.id)  # type: ignore[attr-defined]

    def replace(self, **changes):
        return replace(self, **changes)

    def take(self, idx) -> _Table:
        kw = {}
        for f in fields(self):
            v = getattr(self, f.name)
            kw[f.name] = v[idx] if isinstance(v, np.ndarray) else v
        return type(self)(**kw)


@dataclass(frozen=True, eq=False)
class Nodes(_Table):
    id: np.ndarray
    x_m: np.ndarray
    y_m: np.ndarray
    z_m: np.ndarray
    side: np.ndarray  # "supply" | "return" | "other"

    @classmethod
    def build(cls, n: int, *, id=None, x_m=None, y_m=None, z_m=None, side=None) -> Nodes:
        return cls(
            id=_ids(id, n, "n"), x_m=_f(x_m, n, 0.0), y_m=_f(y_m, n, 0.0), z_m=_f(z_m, n, 0.0),
            side=np.asarray(side if side is not None else ["other"] * n, dtype=object),
        )


@dataclass(frozen=True, eq=False)
class Pipes(_Table):
    id: np.ndarray
    from_node: np.ndarray
    to_node: np.ndarray
    length_m: np.ndarray
    inner_diameter_m: np.ndarray
    roughness_m: np.ndarray
    u_w_per_mk: np.ndarray  # linear heat-loss coefficient U' [W/(m K)]
    ground_temperature_k: np.ndarray
    zeta: np.ndarray  # minor-loss coefficient, added to lambda L / D
    dn: np.ndarray  # nominal diameter (0 = unknown)
    side: np.ndarray
    kind: np.ndarray  # free text: transmission, main, mesh, service, ...
    insulation: np.ndarray  # free text: e.g. "pre-insulated", "old"

    @classmethod
    def build(cls, from_node, to_node, length_m, inner_diameter_m, *, id=None, roughness_m=None,
              u_w_per_mk=None, ground_temperature_k=None, zeta=None, dn=None, side=None, kind=None,
              insulation=None) -> Pipes:
        n = len(from_node)
        return cls(
            id=_ids(id, n, "p"), from_node=np.asarray(from_node, dtype=np.int64),
            to_node=np.asarray(to_node, dtype=np.int64), length_m=_f(length_m),
            inner_diameter_m=_f(inner_diameter_m), roughness_m=_f(roughness_m, n, 1e-4),
            u_w_per_mk=_f(u_w_per_mk, n, 0.0), ground_temperature_k=_f(ground_temperature_k, n, 278.15),
            zeta=_f(zeta, n, 0.0), dn=np.asarray(dn if dn is not None else np.zeros(n), dtype=np.int64),
            side=np.asarray(side if side is not None else ["other"] * n, dtype=object),
            kind=np.asarray(kind if kind is not None else ["pipe"] * n, dtype=object),
            insulation=np.asarray(insulation if insulation is not None else [""] * n, dtype=object),
        )


@dataclass(frozen=True, eq=False)
class Consumers(_Table):
    """Building substations / heat-exchange stations: fixed heat demand, return temperature or ΔT control."""

    id: np.ndarray
    supply_node: np.ndarray
    return_node: np.ndarray
    heat_w: np.ndarray
    control: np.ndarray  # "treturn" | "deltat"
    return_temperature_k: np.ndarray  # used where control == "treturn"
    delta_t_k: np.ndarray  # used where control == "deltat"
    min_dp_pa: np.ndarray  # differential pressure the station needs (warning threshold)

    @classmethod
    def build(cls, supply_node, return_node, heat_w, *, id=None, control=None, return_temperature_k=None,
              delta_t_k=None, min_dp_pa=None) -> Consumers:
        n = len(supply_node)
        return cls(
            id=_ids(id, n, "c"), supply_node=np.asarray(supply_node, dtype=np.int64),
            return_node=np.asarray(return_node, dtype=np.int64), heat_w=_f(heat_w),
            control=np.asarray(control if control is not None else ["treturn"] * n, dtype=object),
            return_temperature_k=_f(return_temperature_k, n, np.nan), delta_t_k=_f(delta_t_k, n, np.nan),
            min_dp_pa=_f(min_dp_pa, n, 0.5e5),
        )


@dataclass(frozen=True, eq=False)
class Sources(_Table):
    """Heat sources with their circulation pump.

    ``kind == "pressure"``: fixes the supply-node pressure ``supply_pressure_pa`` and the return-node pressure
    ``supply_pressure_pa - lift_pa``; its flow is a result. ``kind == "flow"``: delivers ``mass_flow_kg_s``; its
    pressures are results. Both fix the supply temperature ``supply_temperature_k``.
    """

    id: np.ndarray
    supply_node: np.ndarray
    return_node: np.ndarray
    kind: np.ndarray
    supply_temperature_k: np.ndarray
    supply_pressure_pa: np.ndarray
    lift_pa: np.ndarray
    mass_flow_kg_s: np.ndarray

    @classmethod
    def build(cls, supply_node, return_node, supply_temperature_k, *, id=None, kind=None,
              supply_pressure_pa=None, lift_pa=None, mass_flow_kg_s=None) -> Sources:
        n = len(supply_node)
        return cls(
            id=_ids(id, n, "s"), supply_node=np.asarray(supply_node, dtype=np.int64),
            return_node=np.asarray(return_node, dtype=np.int64),
            kind=np.asarray(kind if kind is not None else ["pressure"] * n, dtype=object),
            supply_temperature_k=_f(supply_temperature_k), supply_pressure_pa=_f(supply_pressure_pa, n, np.nan),
            lift_pa=_f(lift_pa, n, np.nan), mass_flow_kg_s=_f(mass_flow_kg_s, n, np.nan),
        )


@dataclass(frozen=True, eq=False)
class Pumps(_Table):
    """In-line booster pumps: ``dp = lift_pa * (1 - (m / max_flow_kg_s)^2)`` in the from -> to direction."""

    id: np.ndarray
    from_node: np.ndarray
    to_node: np.ndarray
    lift_pa: np.ndarray
    max_flow_kg_s: np.ndarray

    @classmethod
    def build(cls, from_node=(), to_node=(), lift_pa=(), max_flow_kg_s=(), *, id=None) -> Pumps:
        n = len(from_node)
        return cls(id=_ids(id, n, "pump"), from_node=np.asarray(from_node, dtype=np.int64),
                   to_node=np.asarray(to_node, dtype=np.int64), lift_pa=_f(lift_pa),
                   max_flow_kg_s=_f(max_flow_kg_s))


@dataclass(frozen=True, eq=False)
class Valves(_Table):
    """Valves: ``dp = zeta * m|m| / (2 rho A^2)``; closed valves carry no flow."""

    id: np.ndarray
    from_node: np.ndarray
    to_node: np.ndarray
    diameter_m: np.ndarray
    zeta: np.ndarray
    open: np.ndarray

    @classmethod
    def build(cls, from_node=(), to_node=(), diameter_m=(), zeta=(), *, id=None, open=None) -> Valves:
        n = len(from_node)
        return cls(id=_ids(id, n, "v"), from_node=np.asarray(from_node, dtype=np.int64),
                   to_node=np.asarray(to_node, dtype=np.int64), diameter_m=_f(diameter_m), zeta=_f(zeta),
                   open=np.asarray(open if open is not None else np.ones(n, bool), dtype=bool))


@dataclass(frozen=True, eq=False)
class Network:
    """A whole network. Build the tables with their ``build`` class methods, then call :meth:`validate`."""

    nodes: Nodes
    pipes: Pipes
    consumers: Consumers
    sources: Sources
    pumps: Pumps = field(default_factory=Pumps.build)
    valves: Valves = field(default_factory=Valves.build)
    name: str = "network"
    crs: str | None = None  # e.g. "EPSG:25833" for projected coordinates in metres
    ground_temperature_k: float = 278.15
    static_pressure_pa: float | None = None  # pressure the network must stay above (plus a margin)
    meta: dict = field(default_factory=dict)

    def replace(self, **changes) -> Network:
        return replace(self, **changes)

    @property
    def n_nodes(self) -> int:
        return len(self.nodes)

    def validate(self, file: str | None = None) -> Network:
        """Check the model; raise :class:`NetworkInputError` listing every problem. Returns ``self``."""
        issues: list[InputIssue] = []
        n = self.n_nodes

        def bad(table: str, mask, message: str, ids) -> None:
            for i in np.flatnonzero(mask)[:20]:
                issues.append(InputIssue(message, file=file, sheet=table, row=int(i), field=str(ids[i])))
            extra = int(np.count_nonzero(mask)) - 20
            if extra > 0:
                issues.append(InputIssue(f"... and {extra} more: {message}", file=file, sheet=table))

        if n == 0:
            issues.append(InputIssue("the network has no nodes", file=file))
        ids, counts = np.unique(self.nodes.id.astype(str), return_counts=True)
        for dup in ids[counts > 1][:20]:
            issues.append(InputIssue(f"duplicate node id {dup}", file=file, sheet="nodes"))
        for tname, table, cols in (
            ("pipes", self.pipes, ("from_node", "to_node")),
            ("pumps", self.pumps, ("from_node", "to_node")),
            ("valves", self.valves, ("from_node", "to_node")),
            ("consumers", self.consumers, ("supply_node", "return_node")),
            ("sources", self.sources, ("supply_node", "return_node")),
        ):
            for c in cols:
                v = getattr(table, c)
                bad(tname, (v < 0) | (v >= n), f"{c} refers to a node that does not exist", table.id)
            a, b = getattr(table, cols[0]), getattr(table, cols[1])
            bad(tname, a == b, f"{cols[0]} and {cols[1]} are the same node", table.id)
        p = self.pipes
        bad("pipes", ~(p.length_m > 0), "length_m must be > 0", p.id)
        bad("pipes", ~(p.inner_diameter_m > 0), "inner_diameter_m must be > 0", p.id)
        bad("pipes", ~(p.roughness_m > 0), "roughness_m must be > 0", p.id)
        bad("pipes", ~(p.u_w_per_mk >= 0), "u_w_per_mk must be >= 0", p.id)
        bad("pipes", ~(p.zeta >= 0), "minor-loss coefficient must be >= 0", p.id)
        bad("pipes", ~((p.ground_temperature_k > 200) & (p.ground_temperature_k < 400)),
            "ground temperature must be given in K (200-400)", p.id)
        c = self.consumers
        bad("consumers", ~(c.heat_w >= 0), "heat demand must be >= 0 W", c.id)
        bad("consumers", ~np.isin(c.control, CONSUMER_CONTROLS), "control must be treturn or deltat", c.id)
        tr = c.control == "treturn"
        bad("consumers", tr & ~((c.return_temperature_k > 273.15) & (c.return_temperature_k < 450)),
            "return temperature must be given in K (273.15-450)", c.id)
        bad("consumers", (c.control == "deltat") & ~(c.delta_t_k > 0), "delta_t_k must be > 0", c.id)
        s = self.sources
        if len(s) == 0:
            issues.append(InputIssue("the network has no heat source", file=file, sheet="sources"))
        bad("sources", ~np.isin(s.kind, SOURCE_KINDS), "kind must be pressure or flow", s.id)
        bad("sources", ~((s.supply_temperature_k > 273.15) & (s.supply_temperature_k < 453.15)),
            "supply temperature must be given in K (273.15-453.15)", s.id)
        pr = s.kind == "pressure"
        bad("sources", pr & ~np.isfinite(s.supply_pressure_pa), "pressure source needs supply_pressure_pa", s.id)
        bad("sources", pr & ~(s.lift_pa >= 0), "pressure source needs lift_pa >= 0", s.id)
        bad("sources", (s.kind == "flow") & ~(s.mass_flow_kg_s >= 0), "flow source needs mass_flow_kg_s >= 0", s.id)
        if len(s) and not pr.any():
            issues.append(InputIssue("at least one source must hold the pressure (kind 'pressure')",
                                     file=file, sheet="sources"))
        fixed_t = np.concatenate([s.supply_node])
        u, cnt = np.unique(fixed_t, return_counts=True)
        for node in u[cnt > 1][:5]:
            issues.append(InputIssue(f"two sources feed the same supply node {self.nodes.id[node]}",
                                     file=file, sheet="sources"))
        fixed_p = np.concatenate([s.supply_node[pr], s.return_node[pr]])
        u, cnt = np.unique(fixed_p, return_counts=True)
        for node in u[cnt > 1][:5]:
            issues.append(InputIssue(f"two pressure sources fix the pressure of node {self.nodes.id[node]}",
                                     file=file, sheet="sources"))
        pu = self.pumps
        bad("pumps", ~(pu.lift_pa >= 0), "lift_pa must be >= 0", pu.id)
        bad("pumps", ~(pu.max_flow_kg_s > 0), "max_flow_kg_s must be > 0", pu.id)
        va = self.valves
        bad("valves", ~(va.diameter_m > 0), "diameter_m must be > 0", va.id)
        bad("valves", ~(va.zeta > 0), "zeta must be > 0 (a fully open valve still has a loss)", va.id)
        if issues:
            raise NetworkInputError(f"invalid network {self.name!r}: {len(issues)} problem(s)", issues)
        return self
