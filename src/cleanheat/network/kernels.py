"""Compiled inner loops of the network solver, used when numba is installed (pandapipes' own accelerator, in the
dev extra); without numba the callers keep their vectorised numpy paths, which give the same results to rounding.

The thermal pass (:class:`ThermalKernel`): the node temperatures and their flow sensitivities solve
``x[d] = b[d] - sum_e c_e x[u_e]`` over the flowing elements ``u_e -> d_e``, a DAG. The compiled path assembles
``b`` and ``c`` in one loop over the elements and substitutes in a topological order from Kahn's algorithm (a node
is final once all its inflows have been added), O(nodes + elements); the order is kept while the elements stay the
same (rebuilding it is two thirds of the cost). The numpy path sweeps ~230 Kahn levels with a few array operations
each on a 125,000-node network.

Set ``CLEANHEAT_NO_NUMBA=1`` to use the numpy paths although numba is installed (the tests compare both).
"""

from __future__ import annotations

import os

import numpy as np

try:  # pragma: no cover - depends on the environment
    if os.environ.get("CLEANHEAT_NO_NUMBA"):
        raise ImportError("disabled by CLEANHEAT_NO_NUMBA")
    import numba
except ImportError:  # pragma: no cover
    numba = None

AVAILABLE = numba is not None


def _assemble(n, up, dn, w, coef, const, loc, am, fixed_nodes, fixed_t, t_stag):  # pragma: no cover - compiled
    """ThermalSolver._numpy_pass's assembly, fused: right-hand sides of the temperatures and of their flow
    sensitivities, and the dependency edges (``|coef| > 1e-14``) with their coefficients, compacted. Returns
    ``(rhs, rhs_s, u, d, c1, c2, dep)``."""
    m = len(up)
    big_w = np.zeros(n)
    rhs = np.zeros(n)
    m_in = np.zeros(n)
    fixed = np.zeros(n, np.bool_)
    for k in range(len(fixed_nodes)):
        fixed[fixed_nodes[k]] = True
    for e in range(m):
        d = dn[e]
        big_w[d] += w[e]
        rhs[d] += w[e] * const[e]
        m_in[d] += am[e]
    for i in range(n):
        if big_w[i] > 0.0:
            rhs[i] = rhs[i] / big_w[i]
        else:  # no inflow: stagnant (or fixed)
            big_w[i] = 1.0
            if not fixed[i]:
                rhs[i] = t_stag
    for k in range(len(fixed_nodes)):
        rhs[fixed_nodes[k]] = fixed_t[k]
    # sensitivity: an extra withdrawal behind a node splits over the node's inflows by their share of the flow
    rhs_s = np.zeros(n)
    dep = np.zeros(m, np.bool_)
    u = np.empty(m, np.int64)
    dd = np.empty(m, np.int64)
    c1 = np.empty(m)
    c2 = np.empty(m)
    k = 0
    for e in range(m):
        d = dn[e]
        mi = m_in[d]
        phi = am[e] / (mi if mi > 0.0 else 1.0)
        rhs_s[d] += w[e] * loc[e] * phi
        if abs(coef[e]) > 1e-14:
            o = -(w[e] * coef[e]) / big_w[d]
            dep[e] = True
            u[k] = up[e]
            dd[k] = d
            c1[k] = o
            c2[k] = o * phi
            k += 1
    for i in range(n):
        rhs_s[i] = 0.0 if fixed[i] else rhs_s[i] / big_w[i]
    return rhs, rhs_s, u[:k], dd[:k], c1[:k], c2[:k], dep


def _order(n, u, d):  # pragma: no cover - compiled
    """Kahn's algorithm: ``(queue, count, seq, start)``: ``queue[:count]`` the nodes in a topological order
    (``count < n`` when there is a cycle; the nodes on it and behind it are missing), ``seq`` the edges in the
    order their tails are processed, ``start[i]:start[i+1]`` those of ``queue[i]``."""
    m = len(u)
    indeg = np.zeros(n, np.int64)
    ptr = np.zeros(n + 1, np.int64)
    for e in range(m):
        indeg[d[e]] += 1
        ptr[u[e] + 1] += 1
    for i in range(n):
        ptr[i + 1] += ptr[i]
    fill = ptr.copy()
    out_e = np.empty(m, np.int64)
    for e in range(m):
        k = u[e]
        out_e[fill[k]] = e
        fill[k] += 1
    queue = np.empty(n, np.int64)
    head = 0
    tail = 0
    for i in range(n):
        if indeg[i] == 0:
            queue[tail] = i
            tail += 1
    while head < tail:
        v = queue[head]
        head += 1
        for j in range(ptr[v], ptr[v + 1]):
            w = d[out_e[j]]
            indeg[w] -= 1
            if indeg[w] == 0:
                queue[tail] = w
                tail += 1
    seq = np.empty(m, np.int64)
    start = np.zeros(n + 1, np.int64)
    k = 0
    for i in range(tail):
        v = queue[i]
        start[i] = k
        for j in range(ptr[v], ptr[v + 1]):
            seq[k] = out_e[j]
            k += 1
    start[tail] = k
    return queue, tail, seq, start


def _substitute(queue, count, seq, start, d, c1, c2, b1, b2):  # pragma: no cover - compiled
    """Forward substitution for two right-hand sides in the order of :func:`_order`."""
    x1 = b1.copy()
    x2 = b2.copy()
    for i in range(count):
        v = queue[i]
        a1 = x1[v]
        a2 = x2[v]
        for j in range(start[i], start[i + 1]):
            e = seq[j]
            w = d[e]
            x1[w] -= c1[e] * a1
            x2[w] -= c2[e] * a2
    return x1, x2


def _substitute1(queue, count, seq, start, d, c, b):  # pragma: no cover - compiled
    """Forward substitution for one right-hand side in the order of :func:`_order`."""
    x = b.copy()
    for i in range(count):
        v = queue[i]
        a = x[v]
        if a != 0.0:
            for j in range(start[i], start[i + 1]):
                e = seq[j]
                x[d[e]] -= c[e] * a
    return x


def _substitute_cols(queue, count, seq, start, d, c, b):  # pragma: no cover - compiled
    """Forward substitution for the columns of ``b`` (n, k) in the order of :func:`_order`."""
    x = b.copy()
    k = x.shape[1]
    for i in range(count):
        v = queue[i]
        for j in range(start[i], start[i + 1]):
            e = seq[j]
            w = d[e]
            ce = c[e]
            for q in range(k):
                x[w, q] -= ce * x[v, q]
    return x


def _cp_point(t, enthalpy, x0, inv_h, xk, yk, sk, hk):  # pragma: no cover - compiled
    """WaterTable.cp_point on a regular grid: enthalpy (``enthalpy``) or heat capacity at ``t``."""
    f = (t - x0) * inv_h
    if f < 0.0:
        f = 0.0
    if f > len(xk) - 2:
        f = len(xk) - 2
    k = int(f)
    dt = t - xk[k]
    if enthalpy:
        return hk[k] + dt * (yk[k] + 0.5 * sk[k] * dt)
    return yk[k] + sk[k] * dt


def _cp_pair(t1, v1, t2, v2, enthalpy, x0, inv_h, xk, yk, sk, hk):  # pragma: no cover - compiled
    """WaterTable.cp_from_points for one pair."""
    if not enthalpy:
        return 0.5 * (v1 + v2)
    d = t1 - t2
    if abs(d) < 1e-6:
        return _cp_point(0.5 * (t1 + t2), False, x0, inv_h, xk, yk, sk, hk)
    return (v1 - v2) / d


def _branch_inflows(m_branch, m_eps, frm, to, t_prev, t_out_prev, ul, t_ground, fixed, enthalpy, x0, inv_h, xk, yk,
                    sk, hk):  # pragma: no cover - compiled
    """ThermalSolver._inflows for the branches: per flowing branch (|m| > m_eps) its index, upstream node,
    transfer coefficient and ground temperature; per flowing branch into a node of free temperature the inflow
    element (up, dn, w, coef, const, loc, |m|, branch)."""
    n = len(t_prev)
    nb = len(m_branch)
    v_node = np.empty(n)
    for i in range(n):
        v_node[i] = _cp_point(t_prev[i], enthalpy, x0, inv_h, xk, yk, sk, hk)
    cnt = 0
    for b in range(nb):
        if abs(m_branch[b]) > m_eps:
            cnt += 1
    fb = np.empty(cnt, np.int64)
    up_f = np.empty(cnt, np.int64)
    a_f = np.empty(cnt)
    tg_f = np.empty(cnt)
    e_up = np.empty(cnt, np.int64)
    e_dn = np.empty(cnt, np.int64)
    e_w = np.empty(cnt)
    e_coef = np.empty(cnt)
    e_const = np.empty(cnt)
    e_loc = np.empty(cnt)
    e_am = np.empty(cnt)
    e_b = np.empty(cnt, np.int64)
    j = 0
    k = 0
    for b in range(nb):
        mb = m_branch[b]
        am = abs(mb)
        if not am > m_eps:
            continue
        if mb >= 0:
            up = frm[b]
            dn = to[b]
        else:
            up = to[b]
            dn = frm[b]
        to_prev = t_out_prev[b]
        v_out = _cp_point(to_prev, enthalpy, x0, inv_h, xk, yk, sk, hk)
        cp = _cp_pair(t_prev[up], v_node[up], to_prev, v_out, enthalpy, x0, inv_h, xk, yk, sk, hk)
        ntu = ul[b] / (cp * am)
        a = np.exp(-ntu)
        tg = t_ground[b]
        fb[j] = b
        up_f[j] = up
        a_f[j] = a
        tg_f[j] = tg
        j += 1
        if fixed[dn]:  # inflows of fixed-temperature nodes do not count
            continue
        e_up[k] = up
        e_dn[k] = dn
        e_w[k] = am * _cp_pair(to_prev, v_out, t_prev[dn], v_node[dn], enthalpy, x0, inv_h, xk, yk, sk, hk)
        e_coef[k] = a
        e_const[k] = (1.0 - a) * tg
        # local sensitivity of a pipe's outlet temperature to its flow: (T_out - T_g) U'L / (cp m^2)
        e_loc[k] = (to_prev - tg) * ntu / am
        e_am[k] = am
        e_b[k] = b
        k += 1
    return (fb, up_f, a_f, tg_f, v_node, e_up[:k], e_dn[:k], e_w[:k], e_coef[:k], e_const[:k], e_loc[:k],
            e_am[:k], e_b[:k])


if numba is not None:  # pragma: no cover - depends on the environment
    _cp_point = numba.njit(cache=True, nogil=True, inline="always")(_cp_point)
    _cp_pair = numba.njit(cache=True, nogil=True, inline="always")(_cp_pair)
    _branch_inflows = numba.njit(cache=True, nogil=True)(_branch_inflows)
    _assemble = numba.njit(cache=True, nogil=True)(_assemble)
    _order = numba.njit(cache=True, nogil=True)(_order)
    _substitute = numba.njit(cache=True, nogil=True)(_substitute)
    _substitute1 = numba.njit(cache=True, nogil=True)(_substitute1)
    _substitute_cols = numba.njit(cache=True, nogil=True)(_substitute_cols)


def forward_substitute_pair(n: int, u: np.ndarray, d: np.ndarray, b1: np.ndarray, c1: np.ndarray, b2: np.ndarray,
                            c2: np.ndarray) -> tuple[np.ndarray | None, np.ndarray | None]:
    """``x[d] = b[d] - sum_e c_e x[u_e]`` for two systems with the same edges: ``(x, None)`` with the solutions
    as the columns of an (n, 2) array, or ``(None, order)`` when the edges contain a cycle, with the nodes in an
    order that is topological up to the cycle (for a sparse solve with little fill)."""
    u = np.asarray(u, np.int64)
    d = np.asarray(d, np.int64)
    queue, count, seq, start = _order(n, u, d)
    if count < n:
        return None, _complete(n, queue, count)
    x1, x2 = _substitute(queue, count, seq, start, d, np.asarray(c1, float), np.asarray(c2, float),
                         np.asarray(b1, float), np.asarray(b2, float))
    return np.column_stack([x1, x2]), None


def _complete(n: int, queue: np.ndarray, count: int) -> np.ndarray:
    done = np.zeros(n, bool)
    done[queue[:count]] = True
    return np.concatenate([queue[:count], np.flatnonzero(~done)])


class ThermalKernel:
    """The compiled core of ThermalSolver.solve for one network (temperatures and sensitivities from the inflow
    elements); keeps the topological order while the dependency edges stay the same."""

    def __init__(self, n: int, fixed_nodes: np.ndarray, fixed_t: np.ndarray, t_stag: float) -> None:
        self.n = n
        self.fixed_nodes = np.asarray(fixed_nodes, np.int64)
        self.fixed_t = np.asarray(fixed_t, float)
        self.t_stag = float(t_stag)
        self._edges: tuple[np.ndarray, np.ndarray] | None = None
        self._order: tuple | None = None
        self._last_c: np.ndarray | None = None
        self.n_orders = 0  # topological orders built (for tests and profiling)

    def solve(self, up, dn, w, coef, const, loc, am):
        """``(x, None)``: temperatures and sensitivities as the columns of an (n, 2) array; on a cycle
        ``(None, (order, rhs, rhs_s, dep, c1, c2))`` for the sparse fallback (``c1``, ``c2`` per dependency)."""
        rhs, rhs_s, u, d, c1, c2, dep = _assemble(
            self.n, up.astype(np.int64, copy=False), dn.astype(np.int64, copy=False), w, coef, const, loc, am,
            self.fixed_nodes, self.fixed_t, self.t_stag)
        edges = self._edges
        if edges is None or not (np.array_equal(edges[0], u) and np.array_equal(edges[1], d)):
            self._edges = (u, d)
            self._order = _order(self.n, u, d)
            self.n_orders += 1
        queue, count, seq, start = self._order
        if count < self.n:
            self._last_c = None
            return None, (_complete(self.n, queue, count), rhs, rhs_s, dep, c1, c2)
        self._last_c = c1
        x1, x2 = _substitute(queue, count, seq, start, d, c1, c2, rhs, rhs_s)
        return np.column_stack([x1, x2]), None

    def solve_linear(self, b: np.ndarray) -> np.ndarray | None:
        """``x[d] = b[d] - sum_e c_e x[u_e]`` with the coefficients of the last :meth:`solve` (the temperatures'
        system: the tangent of the thermal pass), or None when that solve met a cycle."""
        if self._last_c is None or self._order is None:
            return None
        queue, count, seq, start = self._order
        if b.ndim == 2:
            return _substitute_cols(queue, count, seq, start, self._edges[1], self._last_c,
                                    np.ascontiguousarray(b, float))
        return _substitute1(queue, count, seq, start, self._edges[1], self._last_c, np.asarray(b, float))
