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
from scipy.sparse.linalg import splu

from cleanheat.network import kernels
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
    stamp = np.empty(n, np.int64)
    while count < n:
        # the heads of the edges leaving the frontier (each edge once, parallel edges included)
        starts = ptr[frontier]
        lens = ptr[frontier + 1] - starts
        tot = int(lens.sum())
        if tot == 0:
            break
        tg = vs[np.repeat(starts - (np.cumsum(lens) - lens), lens) + np.arange(tot)]
        np.subtract.at(indeg, tg, 1)
        done = tg[indeg[tg] == 0]
        if done.size == 0:
            break
        # a node reached by several edges appears several times: keep one (no sort needed)
        k = np.arange(len(done))
        stamp[done] = k
        frontier = done[stamp[done] == k]
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
        self._pair = None  # solve_pair's index arrays, built on first use

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

    def solve_pair(self, b1: np.ndarray, coef1: np.ndarray, b2: np.ndarray, coef2: np.ndarray) -> np.ndarray:
        """Two systems with the same edges at once: one sweep over the levels with both systems' values side by
        side (node ``i`` of the second system is ``n + i``), half the per-level overhead of two sweeps. Returns
        the two solutions as the columns of an (n, 2) array."""
        if self._pair is None:
            n, order = self.n, self.order
            nodes2, u2, loc2, steps2 = [], [], [], []
            e = 0
            for nodes, e0, e1 in self.steps:
                k = len(nodes)
                nodes2.append(np.concatenate([nodes, nodes + n]))
                u2.append(np.concatenate([self.u[e0:e1], self.u[e0:e1] + n]))
                loc2.append(np.concatenate([self.loc[e0:e1], self.loc[e0:e1] + k]))
                steps2.append((nodes2[-1], e, e + 2 * (e1 - e0), 2 * k))
                e += 2 * (e1 - e0)
            idx = [np.concatenate([order[e0:e1], order[e0:e1] + len(order)]) for _, e0, e1 in self.steps]
            self._pair = (np.concatenate(u2) if u2 else np.zeros(0, np.int64),
                          np.concatenate(loc2) if loc2 else np.zeros(0, np.int64),
                          np.concatenate(idx) if idx else np.zeros(0, np.int64), steps2)
        u, loc, idx, steps = self._pair
        x = np.concatenate([b1, b2])
        c = np.concatenate([coef1, coef2])[idx]
        for nodes, e0, e1, k in steps:
            x[nodes] -= np.bincount(loc[e0:e1], weights=c[e0:e1] * x[u[e0:e1]], minlength=k)
        return x.reshape(2, -1).T


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
        self._kernel: kernels.ThermalKernel | None = None  # the compiled path (numba installed)
        self.elements: tuple | None = None  # the last solve's inflow elements (see _inflows; src: branch or
        # n_branches + consumer)
        self._linear = None  # the last solve's substitution for other right-hand sides (None: cycle)
        # heat-capacity table on its regular grid for the compiled inflows (None: numpy path)
        knots = water._cp
        self._tables = None
        if kernels.AVAILABLE and knots.inv_h is not None:
            self._tables = (knots.x0, knots.inv_h, knots.x, knots.y, knots.slope, water._hk)
        self.fixed_nodes = arr.s_sup
        self.fixed_t = arr.s_t_sup_k
        self.fixed = np.zeros(arr.n_nodes, bool)
        self.fixed[self.fixed_nodes] = True
        self.ul = arr.u_w_per_mk * arr.length_m  # U'L [W/K]

    def consumer_outlet(self, t_in: np.ndarray, idx: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray,
                                                                                        np.ndarray]:
        """Consumer outlet temperature for inlet ``t_in``, the low-temperature mask and d(T_in - T_out)/dT_in.

        Return-temperature control cools to ``T_ret`` but by at least ``dT_min``; the switch between the two is
        smoothed over ``SMOOTH_K`` (0.1 K, changing T_out by under 1e-4 K at a normal 30 K cooling), so that the
        coupled iteration sees a differentiable law at low load.
        """
        arr = self.arr
        deltat, t_ret, dt_k = arr.c_deltat, arr.c_t_ret_k, arr.c_dt_k
        if idx is not None:  # consumers ``idx`` only
            deltat, t_ret, dt_k = deltat[idx], t_ret[idx], dt_k[idx]
        x = t_in - t_ret - self.dt_min
        sq = np.sqrt(x * x + SMOOTH_K * SMOOTH_K)
        dt_eff = np.where(deltat, dt_k, self.dt_min + 0.5 * (x + sq))
        slope = np.where(deltat, 0.0, 0.5 * (1.0 + x / sq))
        low = ~deltat & (x < 0.0)
        return t_in - dt_eff, low, slope

    def _inflows(self, m_branch: np.ndarray, m_cons: np.ndarray, prev: ThermalState):
        """The flowing elements as inflows of their downstream node: flowing branches first, then flowing
        consumers; per element upstream and downstream node, mixing weight ``w`` (|m| cp), transfer coefficient
        and constant (``T_out = coef T_up + const``), the local flow sensitivity of ``T_out`` and ``|m|``."""
        arr, conv, water = self.arr, self.convention, self.water
        t_prev = prev.t_node_k
        if self._tables is not None:
            return self._inflows_compiled(m_branch, m_cons, prev)
        # heat capacities of the pairs (inlet, outlet) and (outlet, mixing node): per-temperature parts once
        v_node = water.cp_point(conv, t_prev)
        am = np.abs(m_branch)
        fb = np.flatnonzero(am > self.m_eps)
        fwd = m_branch[fb] >= 0
        frm, to = arr.frm[fb], arr.to[fb]
        up_f, dn_f = np.where(fwd, frm, to), np.where(fwd, to, frm)
        am_f = am[fb]
        t_out_prev = prev.t_out_branch_k[fb]
        v_out = water.cp_point(conv, t_out_prev)
        cp_f = water.cp_from_points(conv, t_prev[up_f], v_node[up_f], t_out_prev, v_out)
        ntu = self.ul[fb] / (cp_f * am_f)
        a_f = np.exp(-ntu)
        tg_f = arr.t_ground_k[fb]
        w_f = am_f * water.cp_from_points(conv, t_out_prev, v_out, t_prev[dn_f], v_node[dn_f])
        # local sensitivity of a pipe's outlet temperature to its flow: (T_out - T_g) U'L / (cp m^2)
        loc_f = (t_out_prev - tg_f) * ntu / am_f
        # consumers, linearised at the previous inlet temperature: T_out = T_out(T0) + (1 - slope) (T_in - T0)
        fc = np.flatnonzero(m_cons > self.m_eps)
        t_in_c = t_prev[arr.c_sup]
        t_out_lin, _low, slope = self.consumer_outlet(t_in_c)
        coef_c = 1.0 - slope
        const_c = t_out_lin - coef_c * t_in_c
        t_out_c_prev = prev.t_out_consumer_k
        w_c = m_cons * water.cp_from_points(conv, t_out_c_prev, water.cp_point(conv, t_out_c_prev), t_prev[arr.c_ret],
                                            v_node[arr.c_ret])
        el = (np.concatenate([up_f, arr.c_sup[fc]]), np.concatenate([dn_f, arr.c_ret[fc]]),
              np.concatenate([w_f, w_c[fc]]), np.concatenate([a_f, coef_c[fc]]),
              np.concatenate([(1.0 - a_f) * tg_f, const_c[fc]]), np.concatenate([loc_f, np.zeros(len(fc))]),
              np.concatenate([am_f, m_cons[fc]]), np.concatenate([fb, arr.n_branches + fc]))
        keep = ~self.fixed[el[1]]  # inflows of fixed-temperature nodes do not count
        if not keep.all():
            el = tuple(x[keep] for x in el)
        return el, fb, up_f, a_f, tg_f

    def _inflows_compiled(self, m_branch: np.ndarray, m_cons: np.ndarray, prev: ThermalState):
        """:meth:`_inflows` with the branches' part compiled (kernels._branch_inflows), the same values."""
        arr, conv, water = self.arr, self.convention, self.water
        t_prev = prev.t_node_k
        fb, up_f, a_f, tg_f, v_node, *br = kernels._branch_inflows(
            m_branch, self.m_eps, arr.frm, arr.to, t_prev, prev.t_out_branch_k, self.ul, arr.t_ground_k,
            self.fixed, conv == "enthalpy", *self._tables)
        fc = np.flatnonzero((m_cons > self.m_eps) & ~self.fixed[arr.c_ret])
        t_in_c = t_prev[arr.c_sup[fc]]
        t_out_lin, _low, slope = self.consumer_outlet(t_in_c, fc)
        coef_c = 1.0 - slope
        t_out_c_prev = prev.t_out_consumer_k[fc]
        ret = arr.c_ret[fc]
        w_c = m_cons[fc] * water.cp_from_points(conv, t_out_c_prev, water.cp_point(conv, t_out_c_prev), t_prev[ret],
                                                v_node[ret])
        el = (np.concatenate([br[0], arr.c_sup[fc]]), np.concatenate([br[1], ret]), np.concatenate([br[2], w_c]),
              np.concatenate([br[3], coef_c]), np.concatenate([br[4], t_out_lin - coef_c * t_in_c]),
              np.concatenate([br[5], np.zeros(len(fc))]), np.concatenate([br[6], m_cons[fc]]),
              np.concatenate([br[7], arr.n_branches + fc]))
        return el, fb, up_f, a_f, tg_f

    def solve(self, m_branch: np.ndarray, m_cons: np.ndarray, prev: ThermalState) -> ThermalState:
        arr = self.arr
        n = arr.n_nodes
        (up, dn, w, coef, const, loc, am_in, src), fb, up_f, a_f, tg_f = self._inflows(m_branch, m_cons, prev)
        self.elements = (up, dn, w, coef, const, loc, am_in, src)
        self._linear = None
        if kernels.AVAILABLE:
            if self._kernel is None:
                self._kernel = kernels.ThermalKernel(n, self.fixed_nodes, self.fixed_t, self.t_stagnant)
            sol, fallback = self._kernel.solve(up, dn, w, coef, const, loc, am_in)
            if sol is None:  # a cycle in the flow graph
                order, rhs, rhs_s, dep, c1, c2 = fallback
                sol = self._sparse_substitute(n, up[dep], dn[dep], rhs, c1, rhs_s, c2, order)
            else:
                self._linear = self._kernel.solve_linear
        else:
            sol = self._numpy_pass(n, up, dn, w, coef, const, loc, am_in)
        return self._state(sol, m_cons, fb, up_f, a_f, tg_f)

    def has_linear(self) -> bool:
        """True when the last :meth:`solve`'s system can be reused (:meth:`solve_linear`)."""
        return self._linear is not None

    def solve_linear(self, b: np.ndarray) -> np.ndarray | None:
        """The last :meth:`solve`'s temperature system with right-hand side ``b`` (the tangent of the thermal
        pass: node temperature changes for given source terms), or None when that solve met a cycle."""
        return None if self._linear is None else self._linear(b)

    def _numpy_pass(self, n, up, dn, w, coef, const, loc, am_in) -> np.ndarray:
        """Mixing weights, right-hand sides and coefficients of the temperatures and their sensitivities, then
        the level-by-level substitution (kernels.thermal_pass is the same, compiled)."""
        fixed = self.fixed
        W = np.bincount(dn, weights=w, minlength=n)
        rhs = np.bincount(dn, weights=w * const, minlength=n)
        stagnant = (W <= 0.0) & ~fixed
        Wsafe = np.where(W > 0, W, 1.0)
        rhs = rhs / Wsafe
        rhs[stagnant] = self.t_stagnant
        rhs[self.fixed_nodes] = self.fixed_t
        # sensitivity: an extra withdrawal behind a node splits over the node's inflows by their share of the flow
        m_in = np.bincount(dn, weights=am_in, minlength=n)
        phi = am_in / np.where(m_in > 0, m_in, 1.0)[dn]
        rhs_s = np.bincount(dn, weights=w * loc * phi, minlength=n) / Wsafe
        rhs_s[stagnant] = 0.0
        rhs_s[self.fixed_nodes] = 0.0
        off = -(w * coef) / Wsafe[dn]
        dep = np.abs(coef) > 1e-14
        if dep.all():
            du, dd, off_s = up, dn, off * phi
        else:
            du, dd, off, off_s = up[dep], dn[dep], off[dep], (off * phi)[dep]
        return self._substitute(n, du, dd, rhs, off, rhs_s, off_s)

    def _state(self, sol, m_cons, fb, up_f, a_f, tg_f) -> ThermalState:
        arr = self.arr
        t_node, sens = sol[:, 0].copy(), sol[:, 1].copy()
        t_out_b = np.full(arr.n_branches, self.t_stagnant)
        t_out_b[fb] = tg_f + (t_node[up_f] - tg_f) * a_f
        fl_c = m_cons > self.m_eps
        t_out_c, low_c, _slope = self.consumer_outlet(t_node[arr.c_sup])
        t_out_c = np.where(fl_c, t_out_c, t_node[arr.c_sup])
        return ThermalState(t_node_k=t_node, t_out_branch_k=t_out_b, t_out_consumer_k=t_out_c, consumer_low_t=low_c,
                            sens_k_per_kg_s=sens)

    def _substitute(self, n, du, dd, rhs, off, rhs_s, off_s) -> np.ndarray:
        """Solve ``x[d] = b[d] - sum_e c_e x[u_e]`` for the temperatures and the sensitivities (columns)."""
        # levels, reused while the pattern of dependencies does not change
        sched = self._schedule
        if sched is None or not sched.matches(du, dd):
            if sched is not None and sched.valid_for(du, dd):
                sched = LevelSchedule(n, du, dd, sched.levels, sched.level_of, sched.local)
            else:
                levels = topological_levels(n, du, dd)
                sched = LevelSchedule(n, du, dd, levels) if levels is not None else None
            self._schedule = sched
        if sched is not None:
            self._linear = lambda b: sched.solve(b, off) if b.ndim == 1 else np.column_stack(
                [sched.solve(b[:, q], off) for q in range(b.shape[1])])
            return sched.solve_pair(rhs, off, rhs_s, off_s)
        return self._sparse_substitute(n, du, dd, rhs, off, rhs_s, off_s)

    @staticmethod
    def _sparse_substitute(n, du, dd, rhs, off, rhs_s, off_s, order=None) -> np.ndarray:
        # a cycle in the flow graph (e.g. a booster pump driving a loop, or a mesh loop whose flows circulate
        # while the hydraulics are still converging): general sparse solve
        if order is not None:
            # nodes in a topological order up to the cycles: lower triangular there, little fill behind them;
            # one factorisation for both right-hand sides
            pos = np.empty(n, np.int64)
            pos[order] = np.arange(n)
            eye = np.arange(n)
            rows, cols = np.concatenate([eye, pos[dd]]), np.concatenate([eye, pos[du]])
            lu_t = splu(sp.csc_matrix((np.concatenate([np.ones(n), off]), (rows, cols)), shape=(n, n)),
                        permc_spec="NATURAL", diag_pivot_thresh=0.0)
            lu_s = splu(sp.csc_matrix((np.concatenate([np.ones(n), off_s]), (rows, cols)), shape=(n, n)),
                        permc_spec="NATURAL", diag_pivot_thresh=0.0)
            out = np.empty((n, 2))
            out[order, 0] = lu_t.solve(rhs[order])
            out[order, 1] = lu_s.solve(rhs_s[order])
            return out
        eye = np.arange(n)
        rows, cols = np.concatenate([eye, dd]), np.concatenate([eye, du])
        M = sp.csc_matrix((np.concatenate([np.ones(n), off]), (rows, cols)), shape=(n, n))
        Ms = sp.csc_matrix((np.concatenate([np.ones(n), off_s]), (rows, cols)), shape=(n, n))
        return np.column_stack([sp.linalg.spsolve(M, rhs), sp.linalg.spsolve(Ms, rhs_s)])
