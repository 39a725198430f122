"""Stage 2 of the solver: the model turned into flat arrays, plus the structural reduction of the graph.

Hydraulic branches are pipes, then pumps, then open valves, in one set of arrays. Consumers and flow
sources are fixed-flow injections (their flows are set by the heat balance, not by pressures).

The reduction (:class:`Topology`): a breadth-first spanning tree is grown from a virtual ground node linked to
every fixed-pressure node. A node whose subtree touches no chord (non-tree branch) hangs off the rest of the
network by a bridge: the flow of that bridge is the total demand of the subtree, and its pressure follows from
its parent's. Only the remaining "core" (loops and the paths between them and the pressure-holding nodes)
needs Newton's method; subtree sums and pressure propagation are single sparse triangular solves.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from scipy.sparse import csgraph

from cleanheat.network.errors import NetworkSolveError
from cleanheat.network.model import Network


def air_pressure_pa(z_m) -> np.ndarray:
    """Standard-atmosphere air pressure at height z [m] (101325 Pa at sea level, 6.5 K/km, exponent 5.255)."""
    return 101325.0 * np.power(1.0 - np.asarray(z_m, float) * 0.0065 / 288.15, 5.255)


@dataclass(frozen=True, eq=False)
class NetworkArrays:
    n_nodes: int
    z_m: np.ndarray
    # gauge pressures are read against the local air pressure, which falls with height (barometric formula,
    # as pandapipes does): the branch law adds p_air(z_from) - p_air(z_to)
    p_air_pa: np.ndarray
    # branches: pipes [0, n_pipes), pumps [n_pipes, n_pipes + n_pumps), valves after that (open ones only)
    n_pipes: int
    n_pumps: int
    valve_rows: np.ndarray  # model row of each valve branch
    frm: np.ndarray
    to: np.ndarray
    length_m: np.ndarray  # 0 for pumps and valves (no friction)
    diameter_m: np.ndarray
    area_m2: np.ndarray
    rel_roughness: np.ndarray
    zeta: np.ndarray
    pump_r: np.ndarray  # Pa / (kg/s)^2 (pump curve slope), 0 elsewhere
    lift_pa: np.ndarray  # pump lift at zero flow, 0 elsewhere
    u_w_per_mk: np.ndarray
    t_ground_k: np.ndarray
    # consumers
    c_sup: np.ndarray
    c_ret: np.ndarray
    c_heat_w: np.ndarray
    c_deltat: np.ndarray  # bool: fixed temperature drop control
    c_t_ret_k: np.ndarray
    c_dt_k: np.ndarray
    # sources
    s_sup: np.ndarray
    s_ret: np.ndarray
    s_pressure: np.ndarray  # bool
    s_t_sup_k: np.ndarray
    s_mdot_kg_s: np.ndarray  # fixed flow (flow sources), nan otherwise
    fixed_p_nodes: np.ndarray
    fixed_p_pa: np.ndarray

    @property
    def n_branches(self) -> int:
        return len(self.frm)

    @classmethod
    def from_network(cls, net: Network) -> NetworkArrays:
        p, pu, va, c, s = net.pipes, net.pumps, net.valves, net.consumers, net.sources
        vo = np.flatnonzero(va.open)
        np_, nq, nv = len(p), len(pu), len(vo)
        frm = np.concatenate([p.from_node, pu.from_node, va.from_node[vo]]).astype(np.int64)
        to = np.concatenate([p.to_node, pu.to_node, va.to_node[vo]]).astype(np.int64)
        diam = np.concatenate([p.inner_diameter_m, np.full(nq, 0.1), va.diameter_m[vo]])
        zero_q, zero_v = np.zeros(nq), np.zeros(nv)
        pr = s.kind == "pressure"
        fixed_nodes = np.concatenate([s.supply_node[pr], s.return_node[pr]]).astype(np.int64)
        fixed_pa = np.concatenate([s.supply_pressure_pa[pr], s.supply_pressure_pa[pr] - s.lift_pa[pr]])
        return cls(
            n_nodes=net.n_nodes, z_m=np.asarray(net.nodes.z_m, float), p_air_pa=air_pressure_pa(net.nodes.z_m),
            n_pipes=np_, n_pumps=nq, valve_rows=vo,
            frm=frm, to=to, length_m=np.concatenate([p.length_m, zero_q, zero_v]), diameter_m=diam,
            area_m2=np.pi * diam**2 / 4.0,
            rel_roughness=np.concatenate([p.roughness_m / p.inner_diameter_m, np.full(nq + nv, 1e-3)]),
            zeta=np.concatenate([p.zeta, zero_q, va.zeta[vo]]),
            pump_r=np.concatenate([np.zeros(np_), pu.lift_pa / pu.max_flow_kg_s**2, zero_v]),
            lift_pa=np.concatenate([np.zeros(np_), pu.lift_pa, zero_v]),
            u_w_per_mk=np.concatenate([p.u_w_per_mk, zero_q, zero_v]),
            t_ground_k=np.concatenate([p.ground_temperature_k, np.full(nq + nv, net.ground_temperature_k)]),
            c_sup=c.supply_node.astype(np.int64), c_ret=c.return_node.astype(np.int64), c_heat_w=c.heat_w.copy(),
            c_deltat=np.asarray(c.control == "deltat"), c_t_ret_k=c.return_temperature_k.copy(),
            c_dt_k=c.delta_t_k.copy(), s_sup=s.supply_node.astype(np.int64), s_ret=s.return_node.astype(np.int64),
            s_pressure=np.asarray(pr), s_t_sup_k=s.supply_temperature_k.copy(),
            s_mdot_kg_s=np.where(pr, np.nan, s.mass_flow_kg_s), fixed_p_nodes=fixed_nodes, fixed_p_pa=fixed_pa,
        )


@dataclass(frozen=True, eq=False)
class Topology:
    """Structural reduction of the hydraulic graph (depends only on the topology, not on flows)."""

    n_nodes: int
    is_fixed: np.ndarray  # node holds a fixed pressure
    hanging: np.ndarray  # node hangs off the core through a bridge
    hang_nodes: np.ndarray  # hanging nodes
    hang_branch: np.ndarray  # the bridge branch of each hanging node (towards the core)
    hang_parent: np.ndarray  # the node on the core side of that bridge
    core_branches: np.ndarray  # branch indices solved by Newton's method
    core_unknown: np.ndarray  # core nodes with unknown pressure
    core_pos: np.ndarray  # node -> position among core_unknown (-1 elsewhere)
    bfs_order: np.ndarray  # node ids in BFS order (without the ground)

    #: the hanging nodes grouped by their depth in the tree, deepest first: (nodes, parents) per depth
    hang_levels: tuple = ()

    def subtree_demand(self, demand: np.ndarray) -> np.ndarray:
        """Per node: own demand plus the demand of all hanging nodes below it (one vectorised step per depth)."""
        out = np.array(demand, dtype=float, copy=True)
        for nodes, parents in self.hang_levels:
            np.add.at(out, parents, out[nodes])
        return out

    def propagate_pressure(self, p_known: np.ndarray, drop_to_hanging: np.ndarray) -> np.ndarray:
        """Pressures of hanging nodes: ``p[v] = p[parent] - drop[v]``; other entries of ``p_known`` kept."""
        out = p_known.copy()
        drop = np.zeros(self.n_nodes)
        drop[self.hang_nodes] = drop_to_hanging
        for nodes, parents in reversed(self.hang_levels):
            out[nodes] = out[parents] - drop[nodes]
        return out


def build_topology(arr: NetworkArrays, node_names=None) -> Topology:
    n = arr.n_nodes
    g = n  # virtual ground
    fixed = np.zeros(n, bool)
    fixed[arr.fixed_p_nodes] = True
    fr, to = arr.frm, arr.to
    rows = np.concatenate([fr, to, np.full(len(arr.fixed_p_nodes), g), arr.fixed_p_nodes])
    cols = np.concatenate([to, fr, arr.fixed_p_nodes, np.full(len(arr.fixed_p_nodes), g)])
    adj = sp.csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(n + 1, n + 1))
    order, pred = csgraph.breadth_first_order(adj, g, directed=False, return_predecessors=True)
    reached = np.zeros(n + 1, bool)
    reached[order] = True
    if not reached[:n].all():
        # nodes touched by no branch and no consumer/source are harmless; others cannot be solved
        used = np.zeros(n, bool)
        used[fr] = used[to] = True
        used[arr.c_sup] = used[arr.c_ret] = used[arr.s_sup] = used[arr.s_ret] = True
        lost = np.flatnonzero(~reached[:n] & used)
        if lost.size:
            name = node_names[lost[0]] if node_names is not None else lost[0]
            raise NetworkSolveError(
                f"{lost.size} node(s), e.g. node {name}, are not connected to any pressure-holding source "
                "(check closed valves and isolated parts)"
            )
    order = order[order != g]
    # isolated unused nodes: append so every node has a BFS position
    missing = np.flatnonzero(~reached[:n])
    order = np.concatenate([order, missing])
    pred = pred[:n].copy()
    pred[missing] = -9999
    pos = np.empty(n, np.int64)
    pos[order] = np.arange(n)

    # tree branch of each node (depth >= 2): a branch joining it to its BFS predecessor
    cand_node = np.concatenate([to[pred[to] == fr], fr[pred[fr] == to]])
    cand_br = np.concatenate([np.flatnonzero(pred[to] == fr), np.flatnonzero(pred[fr] == to)])
    uniq_node, first = np.unique(cand_node, return_index=True)
    tree_br = np.full(n, -1, np.int64)
    tree_br[uniq_node] = cand_br[first]
    is_tree = np.zeros(len(fr), bool)
    is_tree[tree_br[tree_br >= 0]] = True
    chord = ~is_tree
    cnt = (np.bincount(fr[chord], minlength=n) + np.bincount(to[chord], minlength=n)).astype(float)

    # subtree sums over the whole BFS tree (upper triangular in BFS order)
    child = np.flatnonzero(tree_br >= 0)
    parent = pred[child]
    n_ch = len(child)
    full = sp.csr_matrix(
        (np.concatenate([np.ones(n), -np.ones(n_ch)]),
         (np.concatenate([np.arange(n), pos[parent]]), np.concatenate([np.arange(n), pos[child]]))),
        shape=(n, n),
    )
    sub = sp.linalg.spsolve_triangular(full, cnt[order], lower=False, unit_diagonal=True)
    sub_cnt = np.empty(n)
    sub_cnt[order] = sub
    hanging = (tree_br >= 0) & (sub_cnt == 0.0) & ~fixed
    hang_nodes = np.flatnonzero(hanging)
    hang_parent = pred[hang_nodes]
    hang_branch = tree_br[hang_nodes]
    # hanging nodes by depth, deepest first. In BFS order the predecessors' positions never decrease, so the
    # nodes of one depth are one contiguous run: the children of run k are the positions whose predecessor lies
    # in run k.
    n_reached = len(order) - len(missing)
    pv = pred[order[:n_reached]]
    root = (pv < 0) | (pv >= n)  # children of the virtual ground (the pressure-holding nodes)
    pp = pos[np.where(root, 0, pv)]
    pp[root] = -1
    depth = np.zeros(n, np.int64)
    start, end, d = 0, int(np.searchsorted(pp, 0)), 0
    while end > start:
        depth[order[start:end]] = d
        start, end, d = end, int(np.searchsorted(pp, end)), d + 1
    hd = depth[hang_nodes]
    hang_levels = tuple((hang_nodes[hd == d], hang_parent[hd == d]) for d in sorted(set(hd.tolist()), reverse=True))
    in_core_branch = np.ones(len(fr), bool)
    in_core_branch[hang_branch] = False
    core_unknown = np.flatnonzero(~hanging & ~fixed & reached[:n])
    core_pos = np.full(n, -1, np.int64)
    core_pos[core_unknown] = np.arange(len(core_unknown))
    return Topology(
        n_nodes=n, is_fixed=fixed, hanging=hanging, hang_nodes=hang_nodes, hang_branch=hang_branch,
        hang_parent=hang_parent, core_branches=np.flatnonzero(in_core_branch), core_unknown=core_unknown,
        core_pos=core_pos, bfs_order=order, hang_levels=hang_levels,
    )
