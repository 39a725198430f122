"""The tangent of one coupled pass and a Newton step on the consumer flows.

One pass of the coupled iteration maps the consumer flows ``m`` to ``F(m) = Q / (cp (T_in(m) - T_out))``: the
flows set the node withdrawals, the hydraulics give the branch flows, the thermal pass the inlet temperatures.
Its tangent ``dF/dm v`` is three linear solves with matrices the pass has already built:

* node withdrawals ``dd`` from ``v`` (consumer supply node -, return node +); bridges carry their subtree's sum,
  the meshed core's flows change by ``g A dp`` with ``A^T g A dp = -dd`` (the Laplacian the hydraulic step has
  factorised; its conductances ``g = 1/(dR/dm)`` lag by at most a step, which only makes the tangent approximate);
* the node temperatures' system (lower triangular in flow order) with a right-hand side from the changed flows:
  per inflow element e into node d, ``(dw_e (T_out,e - T_d) + w_e dT_out,e|_flow) / W_d`` with ``w = |m| cp``
  and ``dT_out/d|m| = (T_out - T_g) NTU / |m|`` for a pipe (its outlet warms when more water flows);
* each consumer's flow law ``dF/dT_in = -F slope / (T_in - T_out)``.

Newton's step solves ``(dF/dm - I) dm = -(F(m) - m)`` by GMRES with the own-path diagonal (the estimate the
fixed-point update uses) as right preconditioner: a few products isolate the couplings between consumers that a
diagonal update cannot see (consumers behind one low-flow mesh pipe, which draw on each other's water).
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from cleanheat.network.arrays import NetworkArrays, Topology
from cleanheat.network.hydraulics import CoreSystem
from cleanheat.network.thermal import ThermalSolver


class CoupledTangent:
    """``v -> dF/dm v`` at the state of the last pass (hydraulic factorisation and thermal system of that pass)."""

    def __init__(self, arr: NetworkArrays, topo: Topology, core: CoreSystem, thermal: ThermalSolver,
                 m_branch: np.ndarray, t_node: np.ndarray, df_dtin: np.ndarray) -> None:
        self.arr, self.topo, self.core, self.thermal = arr, topo, core, thermal
        up, dn, w, coef, const, loc, am, src = thermal.elements
        n = arr.n_nodes
        nb = arr.n_branches
        big_w = np.bincount(dn, weights=w, minlength=n)
        t_out = coef * t_node[up] + const
        # element flows are magnitudes: a branch element changes by sign(m) dm
        sgn = np.where(src < nb, np.sign(m_branch[np.minimum(src, nb - 1)]), 1.0)
        # d(source term of node dn) / d(signed flow of the element's branch or consumer)
        self.k = sgn * (w / np.maximum(am, 1e-300) * (t_out - t_node[dn]) + w * loc) / np.where(
            big_w > 0, big_w, 1.0)[dn]
        self.src, self.dn = src, dn
        self.df_dtin = df_dtin
        hb = topo.hang_branch
        self.hang_sign = np.where(arr.to[hb] == topo.hang_nodes, 1.0, -1.0)

    def branch_flows(self, v: np.ndarray) -> np.ndarray:
        """Signed branch flow changes for consumer flow changes ``v`` (linearised hydraulics)."""
        arr, topo, cs = self.arr, self.topo, self.core
        n = arr.n_nodes
        dd = np.bincount(arr.c_sup, weights=v, minlength=n) - np.bincount(arr.c_ret, weights=v, minlength=n)
        sub = topo.subtree_demand(dd)
        dm = np.zeros(arr.n_branches)
        dm[topo.hang_branch] = self.hang_sign * sub[topo.hang_nodes]
        if len(cs.cb):
            if cs.nu and cs.lu is not None:
                dp = cs.lu.solve(-sub[topo.core_unknown])
                dm[cs.cb] = cs.g_lu * (cs.A @ dp)
        return dm

    def _tree(self):
        """Per node: the parent across its bridge (-1 on the core), that bridge and its sign."""
        if getattr(self, "_tree_cache", None) is None:
            arr, topo = self.arr, self.topo
            up_of = np.full(arr.n_nodes, -1, np.int64)
            br_of = np.zeros(arr.n_nodes, np.int64)
            sg_of = np.zeros(arr.n_nodes)
            up_of[topo.hang_nodes] = topo.hang_parent
            br_of[topo.hang_nodes] = topo.hang_branch
            sg_of[topo.hang_nodes] = self.hang_sign
            self._tree_cache = (up_of, br_of, sg_of)
        return self._tree_cache

    def _spread(self):
        """The element source terms as a sparse (nodes x elements) matrix."""
        if getattr(self, "_spread_cache", None) is None:
            m = len(self.dn)
            self._spread_cache = sp.csr_matrix((self.k, (self.dn, np.arange(m))), shape=(self.arr.n_nodes, m))
        return self._spread_cache

    def block(self, idx: np.ndarray) -> np.ndarray | None:
        """``dF_i/dm_j`` for the consumers ``i, j`` in ``idx`` (the other consumers' flows held), as a dense
        matrix: one linearised pass per column, all columns at once."""
        arr, topo, cs = self.arr, self.topo, self.core
        n, k = arr.n_nodes, len(idx)
        nb = arr.n_branches
        dm = np.zeros((nb + len(arr.c_sup), k))
        d_core = np.zeros((n, k))
        # a consumer's withdrawal at its supply node and its return at its return node travel up the hanging
        # trees to the core (each bridge on the way carries it)
        up_of, br_of, sg_of = self._tree()
        for q, c in enumerate(idx):
            for node, amount in ((arr.c_sup[c], 1.0), (arr.c_ret[c], -1.0)):
                v = node
                while up_of[v] >= 0:
                    dm[br_of[v], q] += sg_of[v] * amount
                    v = up_of[v]
                d_core[v, q] += amount
            dm[nb + c, q] = 1.0
        if len(cs.cb) and cs.nu and cs.lu is not None:
            dp = cs.lu.solve(-np.ascontiguousarray(d_core[topo.core_unknown]))
            dm[cs.cb] = cs.g_lu[:, None] * (cs.A @ dp)
        b = self._spread() @ dm[self.src]
        dt = self.thermal.solve_linear(b)
        if dt is None:
            return None
        return self.df_dtin[idx, None] * dt[arr.c_sup[idx]]

    def matvec(self, v: np.ndarray) -> np.ndarray | None:
        """``dF/dm v`` (None when the thermal system of the last pass had a cycle)."""
        arr = self.arr
        dm = np.concatenate([self.branch_flows(v), v])
        b = np.bincount(self.dn, weights=self.k * dm[self.src], minlength=arr.n_nodes)
        dt = self.thermal.solve_linear(b)
        if dt is None:
            return None
        return self.df_dtin * dt[arr.c_sup]


def gmres(matvec, b: np.ndarray, precond: np.ndarray, rtol: float, max_iter: int) -> tuple[np.ndarray, int, float]:
    """Right-preconditioned GMRES (``A P y = b``, ``x = P y`` with the diagonal ``P = precond``) from ``x = 0``:
    ``(x, products, relative residual)``; stops at ``rtol`` or after ``max_iter`` products."""
    beta = float(np.linalg.norm(b))
    if beta == 0.0:
        return np.zeros_like(b), 0, 0.0
    V = [b / beta]
    H = np.zeros((max_iter + 1, max_iter))
    res = 1.0
    k = 0
    y = np.zeros(0)
    for k in range(1, max_iter + 1):
        w = matvec(precond * V[-1])
        if w is None:
            return np.zeros_like(b), k, 1.0
        for i, vi in enumerate(V):
            H[i, k - 1] = float(vi @ w)
            w = w - H[i, k - 1] * vi
        h = float(np.linalg.norm(w))
        H[k, k - 1] = h
        e1 = np.zeros(k + 1)
        e1[0] = beta
        y, *_ = np.linalg.lstsq(H[: k + 1, :k], e1, rcond=None)
        res = float(np.linalg.norm(H[: k + 1, :k] @ y - e1)) / beta
        if res <= rtol or h <= 1e-14 * beta:
            break
        V.append(w / h)
    x = precond * (np.array(V[: len(y)]).T @ y)
    return x, k, res
