"""Hydraulics for given injections: Darcy-Weisbach branches, Newton's method on the reduced graph.

Branch law (from -> to, flow ``m`` signed)::

    p_from - p_to + rho g (z_from - z_to) + p_air(z_from) - p_air(z_to) + lift = R(m)
    R(m) = [(lambda(Re) L / D + zeta) / (2 rho A^2) + r_pump] m |m|

Node law: inflow - outflow = demand (withdrawal). Hanging trees are solved exactly (bridge flow = subtree
demand); on the core the global gradient algorithm (Todini-Pilati) eliminates the branch flows and solves the
node-pressure Laplacian ``A^T D^-1 A`` with a sparse LU each iteration.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from scipy.sparse.linalg import splu

from cleanheat.network.arrays import NetworkArrays, Topology
from cleanheat.network.errors import NetworkSolveError, NonConvergenceError
from cleanheat.network.friction import friction_factor

G_M_S2 = 9.81
PCG_MAX_ITER = 12  # conjugate-gradient steps on the previous factorisation before factorising afresh
PCG_MIN_UNKNOWNS = 4000  # below this a factorisation costs less than the conjugate-gradient steps' overhead


@dataclass(frozen=True, eq=False)
class BranchProps:
    rho_kg_m3: np.ndarray  # density used in the branch law
    eta_pa_s: np.ndarray  # viscosity for the Reynolds number
    # optional: recompute rho and eta from the branch's own outlet temperature at the current flow (a pipe with
    # little flow cools more, its water gets more viscous, which slows it further: a local feedback that a lagged
    # property update can amplify instead of settling)
    water: object | None = None
    t_in_k: np.ndarray | None = None
    cp_j_per_kgk: np.ndarray | None = None

    def at_flow(self, arr, idx, m):
        if self.water is None:
            return self.rho_kg_m3[idx], self.eta_pa_s[idx]
        t_in = self.t_in_k[idx]
        tg = arr.t_ground_k[idx]
        am = np.maximum(np.abs(m), 1e-12)
        t_out = tg + (t_in - tg) * np.exp(-arr.u_w_per_mk[idx] * arr.length_m[idx] / (self.cp_j_per_kgk[idx] * am))
        w = self.water
        return 0.5 * (w.density(t_in) + w.density(t_out)), w.viscosity(0.5 * (t_in + t_out))


def branch_law(arr: NetworkArrays, idx, m, props: BranchProps, friction: str, m_floor: float = 1e-9,
               rho_eta: tuple[np.ndarray, np.ndarray] | None = None):
    """R(m) [Pa], dR/dm [Pa s/kg], lambda and Re for branches ``idx`` with flows ``m`` [kg/s] (``rho_eta``:
    ``props.at_flow(arr, idx, m)`` if already evaluated)."""
    L = arr.length_m[idx]
    D = arr.diameter_m[idx]
    A = arr.area_m2[idx]
    rho, eta = props.at_flow(arr, idx, m) if rho_eta is None else rho_eta
    am = np.abs(m)
    re = am * D / (eta * A)
    is_pipe = L > 0
    lam = np.zeros_like(m)
    re_dlam = np.zeros_like(m)
    if is_pipe.any():
        lp, dp = friction_factor(friction, re[is_pipe], arr.rel_roughness[idx][is_pipe])
        lam[is_pipe] = lp
        re_dlam[is_pipe] = dp
    k = 1.0 / (2.0 * rho * A * A)
    r = arr.pump_r[idx]
    R = (k * (lam * L / D + arr.zeta[idx]) + r) * m * am
    am_f = np.maximum(am, m_floor)
    # with the laminar branch lambda*|m| stays finite at m -> 0: use lambda at the floor for the derivative
    dR = am_f * (k * ((2.0 * lam + re_dlam) * L / D + 2.0 * arr.zeta[idx]) + 2.0 * r)
    if is_pipe.any():
        # pipes with (nearly) zero flow: derivative of the laminar law (finite), whatever the friction model
        lam_lin = 32.0 * eta * L / (rho * A * D * D)
        dR = np.where(is_pipe, np.maximum(dR, lam_lin * 1e-3), dR)
        # a friction law whose slope vanishes faster than R/m at m -> 0 (Colebrook without a laminar branch)
        # makes the Newton step jump across zero and back for ever: never step further than the secant through
        # the origin would (same solution, only the way there changes)
        secant = (k * (lam * L / D + arr.zeta[idx])) * am
        dR = np.where(is_pipe, np.maximum(dR, secant), dR)
    dR = np.maximum(dR, 1e-12)
    return R, dR, lam, re


@dataclass
class HydraulicState:
    m_branch: np.ndarray
    p_pa: np.ndarray
    iterations: int
    residuals: list[float]
    converged: bool = True


class CoreSystem:
    """The node-pressure system of the meshed core, built once per network: incidence matrices, the sparsity
    pattern of the Laplacian ``A^T diag(g) A``, so that each Newton step only fills in values."""

    def __init__(self, arr: NetworkArrays, topo: Topology) -> None:
        cb = topo.core_branches
        self.cb = cb
        f, t = arr.frm[cb], arr.to[cb]
        self.f, self.t = f, t
        uf, ut = topo.core_pos[f], topo.core_pos[t]
        self.fixf, self.fixt = uf < 0, ut < 0
        nu = len(topo.core_unknown)
        self.nu = nu
        kf, kt = ~self.fixf, ~self.fixt
        both = kf & kt
        self.sel_f, self.sel_t, self.sel_b = np.flatnonzero(kf), np.flatnonzero(kt), np.flatnonzero(both)
        rows = np.concatenate([uf[kf], ut[kt], uf[both], ut[both]])
        cols = np.concatenate([uf[kf], ut[kt], ut[both], uf[both]])
        keys, self.slot = np.unique(cols.astype(np.int64) * max(nu, 1) + rows, return_inverse=True)
        self.indices = (keys % max(nu, 1)).astype(np.int32)
        self.indptr = np.searchsorted(keys // max(nu, 1), np.arange(nu + 1)).astype(np.int32)
        self.A = sp.csr_matrix(
            (np.concatenate([np.ones(kf.sum()), -np.ones(kt.sum())]),
             (np.concatenate([self.sel_f, self.sel_t]), np.concatenate([uf[kf], ut[kt]]))),
            shape=(len(cb), nu),
        )
        self.AT = self.A.T.tocsr()
        self.lu = None  # the last factorisation, kept as a preconditioner for the next solves
        self.g_lu: np.ndarray | None = None  # the conductances it was computed with
        self.n_factor = 0
        self.n_pcg = 0

    def factorise(self, g: np.ndarray):
        """The LU factorisation of ``A^T diag(g) A``."""
        vals = np.concatenate([g[self.sel_f], g[self.sel_t], -g[self.sel_b], -g[self.sel_b]])
        data = np.bincount(self.slot, weights=vals, minlength=len(self.indices))
        lap = sp.csc_matrix((data, self.indices, self.indptr), shape=(self.nu, self.nu))
        try:
            lu = splu(lap, permc_spec="MMD_AT_PLUS_A", options={"SymmetricMode": True})
        except RuntimeError as exc:  # singular matrix
            raise NetworkSolveError(f"singular hydraulic system: {exc}") from exc
        self.lu, self.g_lu = lu, g.copy()
        self.n_factor += 1
        return lu

    def solve(self, g: np.ndarray, rhs: np.ndarray, tol_kg_s: float) -> np.ndarray:
        """Solve ``A^T diag(g) A x = rhs``. Between two Newton steps the conductances ``g`` change little, so the
        previous factorisation preconditions conjugate gradients on the new matrix (a few triangular solves
        instead of a factorisation); the residual is a mass imbalance [kg/s] and must fall below ``tol_kg_s``.
        When it does not within ``PCG_MAX_ITER`` iterations, the matrix is factorised afresh."""
        if self.lu is not None and self.nu >= PCG_MIN_UNKNOWNS:
            ratio = g / self.g_lu
            # many conductances far from the factorised ones (early Newton steps): CG would need many steps
            if np.count_nonzero((ratio < 0.8) | (ratio > 1.25)) > 0.01 * len(g):
                return self.factorise(g).solve(rhs)
            x = self._pcg(g, rhs, tol_kg_s)
            if x is not None:
                self.n_pcg += 1
                return x
        return self.factorise(g).solve(rhs)

    def _pcg(self, g: np.ndarray, rhs: np.ndarray, tol_kg_s: float) -> np.ndarray | None:
        A, AT, lu = self.A, self.AT, self.lu
        x = lu.solve(rhs)
        r = rhs - AT @ (g * (A @ x))
        if np.max(np.abs(r)) <= tol_kg_s:
            return x
        z = lu.solve(r)
        d = z
        rz = r @ z
        for _ in range(PCG_MAX_ITER):
            q = AT @ (g * (A @ d))
            dq = d @ q
            if not dq > 0.0:
                return None
            alpha = rz / dq
            x = x + alpha * d
            r = r - alpha * q
            if np.max(np.abs(r)) <= tol_kg_s:
                # the recursively updated residual drifts from the true one: confirm it
                if np.max(np.abs(rhs - AT @ (g * (A @ x)))) <= tol_kg_s:
                    return x
            z = lu.solve(r)
            rz_new = r @ z
            d = z + (rz_new / rz) * d
            rz = rz_new
        return None


def solve_hydraulics(arr: NetworkArrays, topo: Topology, demand: np.ndarray, props: BranchProps, friction: str,
                     m_start: np.ndarray | None, *, tol_m_kg_s: float = 1e-9, tol_rel: float = 1e-9,
                     max_iter: int = 50, hanging_pressures: bool = True, raise_on_failure: bool = True,
                     core: CoreSystem | None = None, tol_head_pa: float = 1e-3) -> HydraulicState:
    """Solve flows and pressures for node withdrawals ``demand`` [kg/s] (negative = injection); ``core`` keeps
    the core system's structure between calls.

    Converged when every core branch's flow changes by less than ``tol_m_kg_s + tol_rel |m|`` or its branch law
    is met to ``tol_head_pa`` (a pipe with almost no flow in a mesh may keep moving by a trace that no pressure
    could show)."""
    n = arr.n_nodes
    m = np.zeros(arr.n_branches) if m_start is None else m_start.copy()
    # --- bridges: flow = subtree demand, directed parent -> hanging node
    sub = topo.subtree_demand(demand)
    hb = topo.hang_branch
    sign = np.where(arr.to[hb] == topo.hang_nodes, 1.0, -1.0)
    m[hb] = sign * sub[topo.hang_nodes]
    d_eff = sub  # for core nodes: own demand + hanging subtrees
    p = np.full(n, np.nan)
    p[arr.fixed_p_nodes] = arr.fixed_p_pa
    cb = topo.core_branches
    residuals: list[float] = []
    it = 0
    converged = True
    if len(cb):
        cs = core if core is not None else CoreSystem(arr, topo)
        f, t = cs.f, cs.t
        nu = cs.nu
        # fixed-pressure contribution and elevation/lift terms
        pf = np.where(cs.fixf, np.nan_to_num(p[f]), 0.0)
        pt = np.where(cs.fixt, np.nan_to_num(p[t]), 0.0)
        rho = props.rho_kg_m3[cb]
        e = (rho * G_M_S2 * (arr.z_m[f] - arr.z_m[t]) + arr.lift_pa[cb] + pf - pt
             + arr.p_air_pa[f] - arr.p_air_pa[t])
        A, AT = cs.A, cs.AT
        d_u = d_eff[topo.core_unknown]
        mc = m[cb]
        if m_start is None:
            # start from a velocity of 0.3 m/s in the reference direction
            mc = 0.3 * rho * arr.area_m2[cb]
        for it in range(1, max_iter + 1):  # noqa: B007 (it is the iteration count after the loop)
            R, dR, _lam, _re = branch_law(arr, cb, mc, props, friction)
            gi = 1.0 / dR
            if nu:
                rhs = -d_u - AT @ mc - AT @ (gi * (e - R))
                pu = cs.solve(gi, rhs, tol_kg_s=1e-3 * tol_m_kg_s + 1e-14 * float(np.max(np.abs(rhs))))
                dh = A @ pu + e - R
            else:
                pu = np.zeros(0)
                dh = e - R
            m_new = mc + gi * dh
            dm = np.abs(m_new - mc)
            scale = tol_m_kg_s + tol_rel * np.abs(m_new)
            residuals.append(float(np.max(dm)) if dm.size else 0.0)
            mc = m_new
            if np.all((dm <= scale) | (np.abs(dh) <= tol_head_pa)):
                break
        else:
            if raise_on_failure:
                raise NonConvergenceError("hydraulic", max_iter, residuals, "kg/s",
                                          "flow change per iteration did not fall below the tolerance")
            converged = False
        m[cb] = mc
        if nu:
            p[topo.core_unknown] = pu
    # --- pressures of hanging nodes from their parents
    if len(hb) and hanging_pressures:
        p = hanging_node_pressures(arr, topo, m, p, props, friction)
    return HydraulicState(m_branch=m, p_pa=p, iterations=it, residuals=residuals, converged=converged)


def hanging_node_pressures(arr: NetworkArrays, topo: Topology, m: np.ndarray, p: np.ndarray, props: BranchProps,
                           friction: str, law_all: tuple[np.ndarray, np.ndarray] | None = None) -> np.ndarray:
    """Pressures of hanging nodes from their parents' (core and fixed-node pressures given in ``p``);
    ``law_all``: R(m) and the density of every branch if already evaluated."""
    hb = topo.hang_branch
    if len(hb):
        if law_all is None:
            rho, eta = props.at_flow(arr, hb, m[hb])
            R, _dR, _lam, _re = branch_law(arr, hb, m[hb], props, friction, rho_eta=(rho, eta))
        else:
            R, rho = law_all[0][hb], law_all[1][hb]
        f, t = arr.frm[hb], arr.to[hb]
        # p_f - p_t = R - rho g (z_f - z_t) - lift
        dpt = (R - rho * G_M_S2 * (arr.z_m[f] - arr.z_m[t]) - arr.lift_pa[hb]
               - (arr.p_air_pa[f] - arr.p_air_pa[t]))
        drop = np.where(t == topo.hang_nodes, dpt, -dpt)  # p_parent - p_child
        p = topo.propagate_pressure(np.nan_to_num(p), drop)
    return p
