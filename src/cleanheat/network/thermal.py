"""Temperatures for given flows: exponential pipe losses and mixing at nodes, in flow direction.

For fixed heat-capacity values the node temperatures are linear; ordering nodes so that every flowing element
runs from an earlier to a later node (a topological order of the flow graph, which is acyclic in a steady
state driven by the sources' pumps) makes the system lower triangular. The nodes of one Kahn level depend only on
earlier levels, so the forward
substitution runs level by level, vectorised (a city network of 125,000 nodes has about 230 levels); the
levels are kept while the pattern of flow directions does not change.

Per flowing element e (pipe, pump, valve or consumer) from node ``up`` to node ``dn``::

    pipe:      T_out = T_g + (T_up - T_g) exp(-U' L / (cp |m|))
    consumer:  T_out = T_ret                 (return-temperature control)
               T_out = T_up - dT             (fixed temperature drop, or T_up < T_ret + dT_min)
    node:      sum_in  w_e (T_out,e - T_dn) = 0,  w_e = |m_e| cp_e

Sources fix the temperature of their supply node. A node with no inflow is stagnant and takes the stagnant
temperature (the ground temperature unless set otherwise).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from cleanheat.network.arrays import NetworkArrays
from cleanheat.network.water import WaterTable


def topological_levels(n: int, u: np.ndarray, v: np.ndarray) -> list[np.ndarray] | None:
    """Kahn's algorithm, one vectorised step per level: the nodes of each level (every edge ``u -> v`` runs
    from an earlier level to a later one), or None when the graph has a cycle."""
    indeg = np.bincount(v, minlength=n).astype(np.int64)
    srt = np.argsort(u, kind="stable")
    vs = v[srt]
    ptr = np.searchsorted(u[srt], np.arange(n + 1))
    frontier = np.flatnonzero(indeg == 0)
    levels = [frontier]
    count = len(frontier)
    while count < n:
        starts = ptr[frontier]
        lens = ptr[frontier + 1] - starts
        tot = int(lens.sum())
        if tot == 0:
            break
        offs = np.repeat(starts - (np.cumsum(lens) - lens), lens) + np.arange(tot)
        tg = vs[offs]
        np.subtract.at(indeg, tg, 1)
        done = tg[indeg[tg] == 0]
        if done.size == 0:
            break
        frontier = np.unique(done)
        levels.append(frontier)
        count += len(frontier)
    if count < n:
        return None
    return levels


class LevelSchedule:
    """Forward substitution ``x[d] = b[d] - sum_e c_e x[u_e]`` over the edges ``u_e -> d_e`` of a DAG, level by
    level. Built once per edge pattern; :meth:`solve` takes the coefficients in the edges' order."""

    def __init__(self, n: int, u: np.ndarray, d: np.ndarray, levels: list[np.ndarray],
                 level_of: np.ndarray | None = None, local: np.ndarray | None = None) -> None:
        self.n = n
        self.u_key, self.d_key = u, d
        self.levels = levels
        if level_of is None or local is None:
            level_of = np.empty(n, np.int32 if len(levels) > 32000 else np.int16)
            local = np.empty(n, np.int64)
            for k, nodes in enumerate(levels):
                level_of[nodes] = k
                local[nodes] = np.arange(len(nodes))
        self.level_of, self.local = level_of, local
        el = level_of[d]
        self.order = np.argsort(el, kind="stable")  # radix sort on small integer keys
        self.u = u[self.order]
        self.loc = local[d[self.order]]
        bounds = np.searchsorted(el[self.order], np.arange(len(levels) + 1))
        self.steps = [(nodes, int(bounds[k]), int(bounds[k + 1])) for k, nodes in enumerate(levels)
                      if bounds[k + 1] > bounds[k]]

    def valid_for(self, u: np.ndarray, d: np.ndarray) -> bool:
        """True when every edge still runs from an earlier level to a later one (the levels can be kept)."""
        return bool(np.all(self.level_of[u] < self.level_of[d]))

    def matches(self, u: np.ndarray, d: np.ndarray) -> bool:
        return len(u) == len(self.u_key) and np.array_equal(u, self.u_key) and np.array_equal(d, self.d_key)

    def solve(self, b: np.ndarray, coef: np.ndarray) -> np.ndarray:
        x = b.copy()
        c = coef[self.order]
        u, loc = self.u, self.loc
        for nodes, e0, e1 in self.steps:
            x[nodes] -= np.bincount(loc[e0:e1], weights=c[e0:e1] * x[u[e0:e1]], minlength=len(nodes))
        return x


@dataclass
class ThermalState:
    t_node_k: np.ndarray
    t_out_branch_k: np.ndarray  # outlet temperature in flow direction, before mixing
    t_out_consumer_k: np.ndarray
    consumer_low_t: np.ndarray  # inlet too cold to reach the return set point (+ dT_min)
    # dT_node / dm: change of each node temperature when the flow of every flowing element upstream of it
    # grows by 1 kg/s (exact along the tree paths that feed consumers; used for the coupling Newton step)
    sens_k_per_kg_s: np.ndarray | None = None


SMOOTH_K = 0.1


class ThermalSolver:
    def __init__(self, arr: NetworkArrays, water: WaterTable, convention: str, t_stagnant_k: float,
                 dt_min_k: float, m_eps_kg_s: float):
        self.arr = arr
        self.water = water
        self.cp_pair = water.mean_cp if convention == "mean" else water.secant_cp
        self.convention = "mean" if convention == "mean" else "enthalpy"
        self.t_stagnant = t_stagnant_k
        self.dt_min = dt_min_k
        self.m_eps = m_eps_kg_s
        self._schedule: LevelSchedule | None = None
        self.fixed_nodes = arr.s_sup
        self.fixed_t = arr.s_t_sup_k

    def consumer_outlet(self, t_in: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Consumer outlet temperature for inlet ``t_in``, the low-temperature mask and d(T_in - T_out)/dT_in.

        Return-temperature control cools to ``T_ret`` but by at least ``dT_min``; the switch between the two is
        smoothed over ``SMOOTH_K`` (0.1 K, changing T_out by under 1e-4 K at a normal 30 K cooling), so that the
        coupled iteration sees a differentiable law at low load.
        """
        arr = self.arr
        x = t_in - arr.c_t_ret_k - self.dt_min
        sq = np.sqrt(x * x + SMOOTH_K * SMOOTH_K)
        dt_eff = np.where(arr.c_deltat, arr.c_dt_k, self.dt_min + 0.5 * (x + sq))
        slope = np.where(arr.c_deltat, 0.0, 0.5 * (1.0 + x / sq))
        low = ~arr.c_deltat & (x < 0.0)
        return t_in - dt_eff, low, slope

    def solve(self, m_branch: np.ndarray, m_cons: np.ndarray, prev: ThermalState) -> ThermalState:
        arr = self.arr
        n = arr.n_nodes
        t_prev = prev.t_node_k
        # --- branches
        fl_b = np.abs(m_branch) > self.m_eps
        fwd = m_branch >= 0
        up_b = np.where(fwd, arr.frm, arr.to)
        dn_b = np.where(fwd, arr.to, arr.frm)
        am = np.abs(m_branch)
        t_in_b = t_prev[up_b]
        # heat capacities of the pairs (inlet, outlet) and (outlet, mixing node): per-temperature parts once
        conv, water = self.convention, self.water
        v_node = water.cp_point(conv, t_prev)
        t_out_prev = prev.t_out_branch_k
        v_out = water.cp_point(conv, t_out_prev)
        cp_b = water.cp_from_points(conv, t_in_b, v_node[up_b], t_out_prev, v_out)
        with np.errstate(divide="ignore", over="ignore"):
            a = np.exp(-arr.u_w_per_mk * arr.length_m / (cp_b * np.where(fl_b, am, 1.0)))
        a = np.where(fl_b, a, 0.0)
        tg = arr.t_ground_k
        w_b = am * water.cp_from_points(conv, t_out_prev, v_out, t_prev[dn_b], v_node[dn_b])
        # --- consumers
        fl_c = m_cons > self.m_eps
        t_in_c = t_prev[arr.c_sup]
        t_out_lin, _low, slope = self.consumer_outlet(t_in_c)
        # linearised at the previous inlet temperature: T_out = T_out(T0) + (1 - slope) (T_in - T0)
        coef_c = 1.0 - slope
        const_c = t_out_lin - coef_c * t_in_c
        t_out_c_prev = prev.t_out_consumer_k
        w_c = m_cons * water.cp_from_points(conv, t_out_c_prev, water.cp_point(conv, t_out_c_prev), t_prev[arr.c_ret],
                                            v_node[arr.c_ret])
        # --- assemble inflow elements (drop those into fixed-temperature nodes)
        fixed = np.zeros(n, bool)
        fixed[self.fixed_nodes] = True
        up = np.concatenate([up_b[fl_b], arr.c_sup[fl_c]])
        dn = np.concatenate([dn_b[fl_b], arr.c_ret[fl_c]])
        w = np.concatenate([w_b[fl_b], w_c[fl_c]])
        coef = np.concatenate([a[fl_b], coef_c[fl_c]])
        const = np.concatenate([((1.0 - a) * tg)[fl_b], const_c[fl_c]])
        # local sensitivity of a pipe's outlet temperature to its flow: (T_out - T_g) U'L / (cp m^2)
        loc_b = np.where(fl_b,
                         (t_out_prev - tg) * arr.u_w_per_mk * arr.length_m / (cp_b * np.where(fl_b, am, 1.0) ** 2),
                         0.0)
        loc = np.concatenate([loc_b[fl_b], np.zeros(int(fl_c.sum()))])
        keep = ~fixed[dn]
        up, dn, w, coef, const, loc = up[keep], dn[keep], w[keep], coef[keep], const[keep], loc[keep]
        W = np.bincount(dn, weights=w, minlength=n)
        rhs = np.bincount(dn, weights=w * const, minlength=n)
        stagnant = (W <= 0.0) & ~fixed
        Wsafe = np.where(W > 0, W, 1.0)
        rhs = rhs / Wsafe
        rhs[stagnant] = self.t_stagnant
        rhs[self.fixed_nodes] = self.fixed_t
        dep = np.abs(coef) > 1e-14
        du, dd = up[dep], dn[dep]
        off = -(w * coef)[dep] / Wsafe[dd]
        # sensitivity: an extra withdrawal behind a node splits over the node's inflows by their share of the flow
        am_in = np.concatenate([am[fl_b], m_cons[fl_c]])[keep]
        m_in = np.bincount(dn, weights=am_in, minlength=n)
        phi = am_in / np.where(m_in[dn] > 0, m_in[dn], 1.0)
        rhs_s = np.bincount(dn, weights=w * loc * phi, minlength=n) / Wsafe
        rhs_s[stagnant] = 0.0
        rhs_s[self.fixed_nodes] = 0.0
        off_s = off * phi[dep]
        # --- levels (reused while the pattern of dependencies does not change)
        sched = self._schedule
        if sched is None or not sched.matches(du, dd):
            if sched is not None and sched.valid_for(du, dd):
                sched = LevelSchedule(n, du, dd, sched.levels, sched.level_of, sched.local)
            else:
                levels = topological_levels(n, du, dd)
                sched = LevelSchedule(n, du, dd, levels) if levels is not None else None
            self._schedule = sched
        if sched is not None:
            sol = np.column_stack([sched.solve(rhs, off), sched.solve(rhs_s, off_s)])
        else:  # a cycle in the flow graph (e.g. a booster pump driving a loop): general sparse solve
            eye = np.arange(n)
            M = sp.csc_matrix((np.concatenate([np.ones(n), off]),
                               (np.concatenate([eye, dd]), np.concatenate([eye, du]))),
                              shape=(n, n))
            Ms = sp.csc_matrix((np.concatenate([np.ones(n), off_s]), (np.concatenate([eye, dd]),
                                                                       np.concatenate([eye, du]))), shape=(n, n))
            sol = np.column_stack([sp.linalg.spsolve(M, rhs), sp.linalg.spsolve(Ms, rhs_s)])
        t_node, sens = sol[:, 0].copy(), sol[:, 1].copy()
        t_out_b = np.where(fl_b, tg + (t_node[up_b] - tg) * a, self.t_stagnant)
        t_out_c, low_c, _slope = self.consumer_outlet(t_node[arr.c_sup])
        t_out_c = np.where(fl_c, t_out_c, t_node[arr.c_sup])
        return ThermalState(t_node_k=t_node, t_out_branch_k=t_out_b, t_out_consumer_k=t_out_c, consumer_low_t=low_c,
                            sens_k_per_kg_s=sens)
