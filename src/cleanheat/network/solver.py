"""Steady-state hydraulic-thermal solver: model -> arrays -> coupled iteration -> immutable result.

The coupling: a consumer with return-temperature control draws ``m = Q / (cp (T_in - T_ret))``, so its flow
depends on the inlet temperature, which depends on the flows through the heat losses. We iterate: consumer
flows -> hydraulics (one Newton step, warm-started) -> temperatures (a level-by-level forward substitution)
-> updated consumer flows (:class:`ConsumerFlowUpdate`: own-path Newton, per-consumer secant, Anderson
acceleration, damping) ... until temperatures, flows and the consumers' heat stop changing. Water properties
(density and viscosity in each branch, heat capacities) follow the current temperatures at every pass, so the
final state is consistent.

The coupled equations need not have a single solution on meshed networks: a mesh pipe carrying little water
cools it, which lowers the inlet temperature and raises the flow of the consumers behind it, which can draw
more water through the same mesh pipe (a positive feedback). Where several states satisfy every equation, the
one reached depends on the start (``start=``); docs/network.md shows such a case against pandapipes.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from types import MappingProxyType

import numpy as np

from cleanheat.network.arrays import NetworkArrays, build_topology
from cleanheat.network.errors import NonConvergenceError
from cleanheat.network.friction import MODELS
from cleanheat.network.hydraulics import (
    G_M_S2,
    BranchProps,
    CoreSystem,
    branch_law,
    hanging_node_pressures,
    solve_hydraulics,
)
from cleanheat.network.model import Network
from cleanheat.network.newton import CoupledTangent, gmres
from cleanheat.network.results import NetworkResult, Warning_
from cleanheat.network.thermal import ThermalSolver, ThermalState
from cleanheat.network.water import WaterTable, iapws_water, pandapipes_water

DEFAULT_OPTIONS = MappingProxyType({
    "friction_model": "colebrook_laminar",  # see friction.MODELS
    "water": "iapws",  # "iapws" (IF97-based, valid to 180 °C) or "pandapipes" (pandapipes 0.16 tables)
    "cp_convention": "enthalpy",  # "enthalpy" (exactly conservative) or "mean" (pandapipes: mean of cp values)
    "water_pressure_pa": 1.0e6,  # reference pressure of the IAPWS tables
    "tol_temperature_k": 1e-6,  # coupled iteration: max change of any node temperature
    "tol_flow_rel": 1e-9,  # hydraulic Newton: max flow change relative to the flow ...
    "tol_flow_kg_s": 1e-10,  # ... plus this absolute part
    "tol_head_pa": 1e-3,  # ... or its branch law met to this pressure (hydraulic convergence)
    "max_iter_hydraulic": 60,
    "max_iter_coupled": 200,
    "anderson_depth": 5,  # coupled iteration: Anderson acceleration over this many past passes (0 = off)
    "anderson_start_k": 1.0,  # ... once the node temperatures change by less than this per pass
    "newton_below_kg_s": 1e-5,  # coupled iteration: Newton steps once no consumer flow is off by this (0 = off)
    "min_consumer_dt_k": 1.0,  # a consumer cools its water by at least this much
    "stagnant_flow_kg_s": 1e-9,  # |m| below this counts as no flow
    "stagnant_temperature_k": None,  # temperature of stagnant parts; None = the network's ground temperature
    "velocity_limit_m_s": 3.0,  # warning threshold
    "pressure_margin_pa": 0.5e5,  # warning when a node is below the static pressure plus this margin
})
PANDAPIPES_COMPATIBLE = MappingProxyType({"friction_model": "colebrook", "water": "pandapipes",
                                          "cp_convention": "mean"})


@dataclass(frozen=True)
class SolverOptions:
    friction_model: str
    water: str
    cp_convention: str
    water_pressure_pa: float
    tol_temperature_k: float
    tol_flow_rel: float
    tol_flow_kg_s: float
    tol_head_pa: float
    max_iter_hydraulic: int
    max_iter_coupled: int
    anderson_depth: int
    anderson_start_k: float
    newton_below_kg_s: float
    min_consumer_dt_k: float
    stagnant_flow_kg_s: float
    stagnant_temperature_k: float | None
    velocity_limit_m_s: float
    pressure_margin_pa: float

    @classmethod
    def make(cls, options: dict | None = None, *, pandapipes_compatible: bool = False) -> SolverOptions:
        """Defaults, then the pandapipes preset (if asked), then ``options``; unknown keys are rejected."""
        merged = dict(DEFAULT_OPTIONS)
        if pandapipes_compatible:
            merged.update(PANDAPIPES_COMPATIBLE)
        unknown = sorted(set(options or {}) - set(DEFAULT_OPTIONS))
        if unknown:
            raise ValueError(f"unknown solver option(s): {', '.join(unknown)}; known: {', '.join(DEFAULT_OPTIONS)}")
        merged.update(options or {})
        if merged["friction_model"] not in MODELS:
            raise ValueError(f"friction_model must be one of {MODELS}")
        if merged["water"] not in ("iapws", "pandapipes"):
            raise ValueError("water must be 'iapws' or 'pandapipes'")
        if merged["cp_convention"] not in ("enthalpy", "mean"):
            raise ValueError("cp_convention must be 'enthalpy' or 'mean'")
        for k in ("tol_temperature_k", "tol_flow_rel", "tol_flow_kg_s", "tol_head_pa", "min_consumer_dt_k",
                  "velocity_limit_m_s"):
            if not float(merged[k]) > 0:
                raise ValueError(f"{k} must be > 0")
        for k in ("max_iter_hydraulic", "max_iter_coupled"):
            if int(merged[k]) < 1:
                raise ValueError(f"{k} must be >= 1")
        if not float(merged["newton_below_kg_s"]) >= 0:
            raise ValueError("newton_below_kg_s must be >= 0")
        if not 0 <= int(merged["anderson_depth"]) <= 50:
            raise ValueError("anderson_depth must be between 0 and 50")
        return cls(**merged)

    def water_table(self) -> WaterTable:
        return pandapipes_water() if self.water == "pandapipes" else iapws_water(self.water_pressure_pa)


@dataclass(frozen=True)
class StartState:
    """Where the coupled iteration starts (a warm start): node temperatures [K], optionally pipe and branch
    flows [kg/s] (signed, from -> to) and branch outlet temperatures [K]. A previous :class:`NetworkResult` of
    the same network can be passed to :func:`solve` directly."""

    t_node_k: np.ndarray
    mdot_branch_kg_s: np.ndarray | None = None
    t_out_branch_k: np.ndarray | None = None


def solve(network: Network, options: dict | None = None, *, pandapipes_compatible: bool = False,
          validate: bool = True, start: StartState | NetworkResult | None = None) -> NetworkResult:
    """Solve the steady state of ``network``. Raises NonConvergenceError / NetworkSolveError.

    ``start`` warm-starts the iteration (e.g. from the solution of a neighbouring operating point); by default
    temperatures start at the source temperature on the supply side and the return set point on the return
    side, and the first hydraulic solve starts from 0.3 m/s in every pipe's reference direction."""
    opts = SolverOptions.make(options, pandapipes_compatible=pandapipes_compatible)
    if validate:
        network.validate()
    t0 = time.perf_counter()
    water = opts.water_table()
    arr = NetworkArrays.from_network(network)
    topo = build_topology(arr, network.nodes.id)
    t_stag = opts.stagnant_temperature_k or network.ground_temperature_k
    convention = "mean" if opts.cp_convention == "mean" else "enthalpy"
    thermal = ThermalSolver(arr, water, convention, t_stag, opts.min_consumer_dt_k, opts.stagnant_flow_kg_s)
    cp_pair = thermal.cp_pair
    n = arr.n_nodes
    state = _initial_state(network, arr)
    m_branch = None
    if start is not None:
        state, m_branch = _warm_state(start, arr, state)
    flow_src = ~arr.s_pressure
    residuals: list[float] = []
    hyd_iters = 0
    update = ConsumerFlowUpdate(opts.anderson_depth)
    core = CoreSystem(arr, topo)
    m_used = None
    converged = False
    for it in range(1, opts.max_iter_coupled + 1):
        t_node = state.t_node_k
        # consumer flows from the current inlet temperatures, then the coupled update (see ConsumerFlowUpdate)
        t_in_c = t_node[arr.c_sup]
        t_out_c, _low, slope = thermal.consumer_outlet(t_in_c)
        m_fp = arr.c_heat_w / (cp_pair(t_in_c, t_out_c) * (t_in_c - t_out_c))
        if m_used is None:
            m_cons = m_fp
        else:
            # own-path sensitivity dT_in/dm of each consumer (from the last thermal solve)
            dtin_dm = state.sens_k_per_kg_s[arr.c_sup]
            df_dtin = -m_fp / np.maximum(t_in_c - t_out_c, 1e-9) * slope
            dfp_dm = np.minimum(df_dtin * dtin_dm, 0.0)
            g_newton = None
            if (update.relax == 1.0 and float(np.max(np.abs(m_fp - m_used))) < opts.newton_below_kg_s
                    and thermal.has_linear()):
                g_newton = _newton_step(arr, topo, core, thermal, m_branch, t_node, df_dtin, m_used, m_fp,
                                        dfp_dm)
            damped = update.relax < 1.0
            m_cons = update.next(m_used, m_fp, dfp_dm, residuals, opts.anderson_start_k, g_newton=g_newton)
            if (damped and thermal.has_linear()
                    and np.count_nonzero(np.abs(m_fp - m_used) > ESCAPE_LOCAL_KG_S) <= ESCAPE_LOCAL_N):
                # a damped pass late in the iteration: a few consumers that draw on each other's water
                esc = _escape_step(arr, topo, core, thermal, m_branch, t_node, df_dtin, m_used, m_fp)
                if esc is not None:
                    m_cons = m_cons.copy()
                    m_cons[esc[0]] = esc[1]
        demand = np.bincount(arr.c_sup, weights=m_cons, minlength=n) - np.bincount(arr.c_ret, weights=m_cons,
                                                                                  minlength=n)
        if flow_src.any():
            demand += np.bincount(arr.s_ret[flow_src], weights=arr.s_mdot_kg_s[flow_src], minlength=n)
            demand -= np.bincount(arr.s_sup[flow_src], weights=arr.s_mdot_kg_s[flow_src], minlength=n)
        # branch properties at the current temperatures (inlet in the current flow direction)
        # (the core's branches only: the bridges' flows follow from the demand; all branches once at the end)
        t_used = (t_node, state.t_out_branch_k, m_branch)
        props = _branch_props(arr, water, cp_pair, *t_used, topo.core_branches)
        hyd = solve_hydraulics(arr, topo, demand, props, opts.friction_model, m_branch,
                               tol_m_kg_s=opts.tol_flow_kg_s, tol_rel=opts.tol_flow_rel,
                               max_iter=opts.max_iter_hydraulic if it == 1 else 1, hanging_pressures=False,
                               raise_on_failure=(it == 1), core=core, tol_head_pa=opts.tol_head_pa)
        hyd_iters += hyd.iterations
        m_branch = hyd.m_branch
        new = thermal.solve(m_branch, m_cons, state)
        # node temperatures decide everything else (consumer flows, properties); the outlet temperature of a
        # pipe with very little flow may still move slightly, with no effect on nodes or flows
        res = float(np.max(np.abs(new.t_node_k - state.t_node_k))) if n else 0.0
        residuals.append(res)
        state = new
        m_used = m_cons
        if res < opts.tol_temperature_k and it > 1 and hyd.converged:
            # the consumer flows must also deliver their heat at the final temperatures (to the flow tolerance)
            t_in_c = new.t_node_k[arr.c_sup]
            t_out_c, _low, _slope = thermal.consumer_outlet(t_in_c)
            m_check = arr.c_heat_w / (cp_pair(t_in_c, t_out_c) * (t_in_c - t_out_c))
            if np.all(np.abs(m_check - m_cons) <= opts.tol_flow_kg_s + opts.tol_flow_rel * np.abs(m_cons)):
                converged = True
                break
    if not converged:
        raise NonConvergenceError("coupled", opts.max_iter_coupled, residuals, "K",
                                  "temperatures kept changing between hydraulic and thermal passes")
    # the branch law of every branch once (at the temperatures of the last hydraulic step), for the hanging nodes'
    # pressures and the result
    allb = np.arange(arr.n_branches)
    props = _branch_props(arr, water, cp_pair, *t_used, allb)
    rho_eta = props.at_flow(arr, allb, m_branch)
    law = branch_law(arr, allb, m_branch, props, opts.friction_model, rho_eta=rho_eta)
    hyd.p_pa = hanging_node_pressures(arr, topo, m_branch, hyd.p_pa, props, opts.friction_model,
                                      law_all=(law[0], rho_eta[0]))
    result = _make_result(network, arr, opts, water, cp_pair, hyd, state, m_cons, props, it, hyd_iters, residuals,
                          law, t_stag, pandapipes_compatible)
    object.__setattr__(result, "solve_s", time.perf_counter() - t0)
    return result


def _branch_props(arr: NetworkArrays, water: WaterTable, cp_pair, t_node: np.ndarray, t_out_b: np.ndarray,
                  m_branch: np.ndarray | None, idx: np.ndarray) -> BranchProps:
    """Water properties of branches ``idx`` at the given temperatures (inlet in the current flow direction);
    the other branches' entries are NaN."""
    fwd = np.ones(len(idx), bool) if m_branch is None else m_branch[idx] >= 0
    t_in = t_node[np.where(fwd, arr.frm[idx], arr.to[idx])]
    t_out = t_out_b[idx]
    vals = (t_in, 0.5 * (water.density(t_in) + water.density(t_out)), water.viscosity(0.5 * (t_in + t_out)),
            cp_pair(t_in, t_out))
    if len(idx) == arr.n_branches:
        full = vals
    else:
        full = tuple(np.full(arr.n_branches, np.nan) for _ in vals)
        for f, v in zip(full, vals, strict=True):
            f[idx] = v
    return BranchProps(rho_kg_m3=full[1], eta_pa_s=full[2], water=water, t_in_k=full[0], cp_j_per_kgk=full[3])


def _initial_state(network: Network, arr: NetworkArrays) -> ThermalState:
    """Start temperatures: supply-side nodes at the (highest) source supply temperature, return-side nodes at
    the mean consumer return set point (or the supply temperature less the mean fixed drop), other nodes at
    the supply temperature; pipe outlets at their downstream node's temperature (as pandapipes starts)."""
    t_sup = float(np.max(arr.s_t_sup_k))
    tr = arr.c_t_ret_k[~arr.c_deltat]
    if tr.size:
        t_ret = float(np.mean(tr))
    elif arr.c_deltat.any():
        t_ret = t_sup - float(np.mean(arr.c_dt_k[arr.c_deltat]))
    else:
        t_ret = t_sup
    t_ret = min(t_ret, t_sup)
    t_node = np.where(np.asarray(network.nodes.side) == "return", t_ret, t_sup).astype(float)
    t_node[arr.s_sup] = arr.s_t_sup_k
    t_out_c = np.where(arr.c_deltat, t_node[arr.c_sup] - np.nan_to_num(arr.c_dt_k),
                       np.minimum(np.nan_to_num(arr.c_t_ret_k, nan=t_ret), t_node[arr.c_sup]))
    return ThermalState(t_node_k=t_node, t_out_branch_k=t_node[arr.to].copy(), t_out_consumer_k=t_out_c,
                        consumer_low_t=np.zeros(len(arr.c_sup), bool))


def _warm_state(start: StartState | NetworkResult, arr: NetworkArrays,
                default: ThermalState) -> tuple[ThermalState, np.ndarray | None]:
    if isinstance(start, NetworkResult):
        start = StartState(t_node_k=start.node_t_k, mdot_branch_kg_s=start.branch_mdot_kg_s,
                           t_out_branch_k=start.branch_t_out_k)
    t = np.asarray(start.t_node_k, dtype=float)
    if t.shape != (arr.n_nodes,):
        raise ValueError(f"start.t_node_k must have one value per node ({arr.n_nodes})")
    t = t.copy()
    t[arr.s_sup] = arr.s_t_sup_k
    m = None
    if start.mdot_branch_kg_s is not None:
        m = np.asarray(start.mdot_branch_kg_s, dtype=float)
        if m.shape == (arr.n_pipes,) and arr.n_branches > arr.n_pipes:
            m = np.concatenate([m, np.zeros(arr.n_branches - arr.n_pipes)])
        if m.shape != (arr.n_branches,):
            raise ValueError(f"start.mdot_branch_kg_s must have one value per pipe or branch ({arr.n_branches})")
    if start.t_out_branch_k is not None and len(start.t_out_branch_k) >= arr.n_pipes:
        t_out = default.t_out_branch_k.copy()
        t_out[: arr.n_pipes] = np.asarray(start.t_out_branch_k, dtype=float)[: arr.n_pipes]
    elif m is not None:
        t_out = t[np.where(m >= 0, arr.to, arr.frm)]
    else:
        t_out = t[arr.to]
    t_out_c = np.where(arr.c_deltat, t[arr.c_sup] - np.nan_to_num(arr.c_dt_k),
                       np.minimum(np.nan_to_num(arr.c_t_ret_k, nan=float(np.min(t))), t[arr.c_sup]))
    return ThermalState(t_node_k=t, t_out_branch_k=t_out, t_out_consumer_k=t_out_c,
                        consumer_low_t=np.zeros(len(arr.c_sup), bool)), m


NEWTON_RTOL = 0.05  # GMRES: relative residual of the Newton equation (an inexact Newton step) ...
NEWTON_MAX_PRODUCTS = 20  # ... within this many tangent products


def _newton_step(arr, topo, core, thermal, m_branch, t_node, df_dtin, m, f, dfp_dm) -> np.ndarray | None:
    """The consumer flows after a Newton step on ``F(m) - m = 0`` (see newton.py), or None where it would not
    help: GMRES did not reduce the residual enough, or the linearised step reverses a branch's flow (the pass is
    not differentiable there: a mesh pipe's water arrives at the other node, and Newton's steps can jump back and
    forth across such a reversal for ever)."""
    tan = CoupledTangent(arr, topo, core, thermal, m_branch, t_node, df_dtin)

    def jac(v):
        y = tan.matvec(v)
        return None if y is None else y - v

    dx, _k, rel = gmres(jac, m - f, 1.0 / (dfp_dm - 1.0), NEWTON_RTOL, NEWTON_MAX_PRODUCTS)
    if not rel < 0.5:
        return None
    m_pred = m_branch + tan.branch_flows(dx)
    if np.any((np.sign(m_pred) != np.sign(m_branch)) & (np.abs(m_branch) > 1e-9)):
        return None
    return np.maximum(m + dx, 0.0)


ESCAPE_LOCAL_N = 200  # escape steps only once at most this many consumers ...
ESCAPE_LOCAL_KG_S = 1e-6  # ... are off by more than this (not in the first, global passes)
ESCAPE_BLOCK = 12  # the consumers with the largest flow residuals (>= 5 % of the largest) in the local block
ESCAPE_GAIN = 3.0  # an unstable mode's residual grows (1 + this)-fold per escape step


def _escape_step(arr, topo, core, thermal, m_branch, t_node, df_dtin, m, f):
    """Where the coupled update has to damp late in the iteration, a few consumers behind a low-flow mesh pipe
    usually draw on each other's water: their block of ``dF/dm`` (``dF_i/dm_j``, the other consumers held) has
    an eigenvalue above 1, a positive feedback stronger than the flow change itself. The state the iteration
    approaches is then an unstable steady state, which the damped fixed-point steps leave only slowly (each pass
    multiplies the drift by ~1.1-1.5; 20-70 passes on the 50,000-consumer networks). The escape step moves
    the block along those unstable modes the way the drift goes, ``(1 + ESCAPE_GAIN)`` times the residual per
    step, and takes a Newton step in its stable modes; with no unstable mode it does nothing (None).

    Returns (consumer indices, their new flows) or None."""
    r = f - m
    top = np.argsort(-np.abs(r))[:ESCAPE_BLOCK]
    top = top[np.abs(r[top]) > 0.05 * np.abs(r[top[0]])]
    if not top.size or r[top[0]] == 0.0:
        return None
    block = CoupledTangent(arr, topo, core, thermal, m_branch, t_node, df_dtin).block(top)
    if block is None:
        return None
    mu, vec = np.linalg.eig(block - np.eye(len(top)))
    unstable = mu.real > 0.0
    if not unstable.any():
        return None
    try:
        c = np.linalg.solve(vec, r[top].astype(complex))
    except np.linalg.LinAlgError:
        return None
    step = (vec @ (np.where(unstable, ESCAPE_GAIN / mu, -1.0 / mu) * c)).real
    return top, np.maximum(m[top] + step, 0.0)


class Anderson:
    """Anderson acceleration (type II, Walker & Ni 2011) of a fixed point ``x = G(x)``: the next iterate mixes
    the last ``depth`` passes so that their residuals ``G(x) - x`` cancel in the least-squares sense (a secant
    method on the few slow modes of an otherwise quickly converging iteration)."""

    def __init__(self, depth: int) -> None:
        self.depth = depth
        self.x: list[np.ndarray] = []
        self.g: list[np.ndarray] = []

    def reset(self) -> None:
        self.x.clear()
        self.g.clear()

    def step(self, x: np.ndarray, g: np.ndarray) -> np.ndarray:
        """Record one pass (``x`` in, ``g = G(x)`` out) and return the next iterate."""
        if self.depth <= 0:
            return g
        self.x.append(x.copy())
        self.g.append(g.copy())
        if len(self.x) > self.depth + 1:
            self.x.pop(0)
            self.g.pop(0)
        if len(self.x) < 2:
            return g
        f = np.array([gi - xi for gi, xi in zip(self.g, self.x, strict=True)])
        d_f = (f[1:] - f[:-1]).T
        d_g = (np.array(self.g[1:]) - np.array(self.g[:-1])).T
        gamma, *_ = np.linalg.lstsq(d_f, f[-1], rcond=None)
        if not np.all(np.isfinite(gamma)):
            self.reset()
            return g
        return g - d_g @ gamma


DRIFT_COSINE = 0.9  # successive flow steps this aligned (cosine) count as a drift, not an oscillation
DRIFT_PASSES = 2  # ... and this many such damped passes in a row halve the damping
ANDERSON_STALL = 0.8  # the largest consumer flow residual above this fraction of the last pass's ...
ANDERSON_STALL_PASSES = 2  # ... this many passes in a row: Anderson's history is dropped


class ConsumerFlowUpdate:
    """The coupled iteration's update of the consumer flows.

    The unknowns are the consumer flows ``m``; one pass gives ``F(m) = Q / (cp (T_in(m) - T_out))`` with the
    inlet temperatures from the hydraulic and thermal solves at ``m``; the solution is ``r(m) = F(m) - m = 0``.

    * Newton on the strongest coupling, each consumer's own feeding path (diagonal): less flow, more cooling on
      the way, a colder inlet, more flow. ``dT_in/dm`` comes from the thermal solve, with an extra withdrawal
      split over a node's inflows by their share of the flow (so that a mesh pipe carrying little water, which
      cools a lot, does not dominate the estimate).
    * Per consumer, a secant on the last two passes replaces the Newton slope when it is steeper: at low load a
      consumer at the end of a long service pipe can flip between "little flow, cold water, much flow" and
      "much flow, warm water, little flow"; the secant lands between the two.
    * Anderson acceleration over the last passes for the remaining slow modes, which are few and local (a mesh
      pipe with little flow whose water cools, which changes the inlet temperatures, hence the flows, of the
      consumers behind it, which changes the flow in the mesh pipe ...).
    * A safeguard: when the temperature change grows twice in a row the history is forgotten and the flow steps
      are damped until it falls again — unless the damped steps keep pointing the same way (successive flow
      steps with a cosine above ``DRIFT_COSINE``): that is a slow drift away from an unstable state, which the
      damping only prolongs (the 50,000-consumer network of generator seed 4 at full load spent 70 of 124 passes
      so), and the damping is halved after ``DRIFT_PASSES`` such passes.
    """

    def __init__(self, depth: int) -> None:
        self.accel = Anderson(depth)
        self.m_old: np.ndarray | None = None
        self.r_old: np.ndarray | None = None
        self.relax = 1.0
        self.n_damped = 0
        self.n_falling = 0
        self.n_drift = 0
        self.step_old: np.ndarray | None = None
        self.n_stuck = 0
        self.rmax_old = np.inf

    def next(self, m: np.ndarray, f: np.ndarray, df_dm: np.ndarray, residuals: list[float],
             anderson_start_k: float, g_newton: np.ndarray | None = None) -> np.ndarray:
        r = f - m
        slope = df_dm - 1.0  # dr/dm along the own feeding path (<= -1)
        if self.m_old is not None:
            dm = m - self.m_old
            ok = np.abs(dm) > 1e-12 * np.maximum(m, 1e-12)
            sec = np.where(ok, (r - self.r_old) / np.where(ok, dm, 1.0), 0.0)
            slope = np.where(ok & (sec < slope), sec, slope)
        step = None if self.m_old is None else m - self.m_old
        self.m_old, self.r_old = m, r
        g = np.maximum(m - r / slope, 0.0) if g_newton is None else g_newton
        falling = len(residuals) >= 2 and residuals[-1] < residuals[-2]
        self.n_falling = self.n_falling + 1 if falling else 0
        # damped passes that keep stepping the same way are a slow drift (the iteration leaving a state that
        # nearly satisfies the equations but is unstable, towards the one it converges to), not the oscillation
        # the damping is for: after DRIFT_PASSES such passes the damping is halved, and a growing temperature
        # change during a drift does not damp further
        drift = False
        if self.relax < 1.0 and step is not None and self.step_old is not None:
            a, b = step, self.step_old
            den = float(np.sqrt((a @ a) * (b @ b)))
            drift = den > 0.0 and float(a @ b) > DRIFT_COSINE * den
        self.n_drift = self.n_drift + 1 if drift else 0
        self.step_old = step
        if self.n_drift >= DRIFT_PASSES:
            self.relax = min(1.0, self.relax * 2.0)
            self.n_drift = 0
        elif len(residuals) >= 3 and residuals[-1] > residuals[-2] > residuals[-3] and not drift:
            self.relax = max(0.125, self.relax * 0.5)
            self.n_damped += 1
            self.accel.reset()
        elif self.relax < 1.0 and self.n_falling >= 1 + min(self.n_damped // 4, 2):
            # undamp after one falling pass; after repeated damping (a cycle) only after two or three
            self.relax = min(1.0, self.relax * 2.0)
            self.n_falling = 0
        if self.relax < 1.0:
            self.accel.reset()
            return m + self.relax * (g - m)
        # Anderson can stagnate: its mixing of nearly collinear past passes cancels the step while a few
        # consumers stay off (their flow residual not falling for ANDERSON_STALL_PASSES passes): start afresh
        rmax = float(np.max(np.abs(r))) if r.size else 0.0
        self.n_stuck = self.n_stuck + 1 if rmax > ANDERSON_STALL * self.rmax_old else 0
        self.rmax_old = rmax
        if self.n_stuck >= ANDERSON_STALL_PASSES:
            self.accel.reset()
            self.n_stuck = 0
        elif residuals and residuals[-1] < anderson_start_k and g_newton is None:
            return np.maximum(self.accel.step(m, g), 0.0)
        self.accel.reset()
        return g


def _make_result(network, arr, opts, water, cp_pair, hyd, state, m_cons, props, it, hyd_iters, residuals,
                 law, t_stag, pandapipes_compatible) -> NetworkResult:
    n = arr.n_nodes
    p = hyd.p_pa
    t = state.t_node_k
    m = hyd.m_branch
    _R, _dR, lam, re = law
    fwd = m >= 0
    t_in_b = t[np.where(fwd, arr.frm, arr.to)]
    t_out_b = state.t_out_branch_k
    flowing = np.abs(m) > opts.stagnant_flow_kg_s
    q_loss = np.where(flowing, np.abs(m) * cp_pair(t_in_b, t_out_b) * (t_in_b - t_out_b), 0.0)
    vel = m / (props.rho_kg_m3 * arr.area_m2)
    t_in_c = t[arr.c_sup]
    t_out_c = state.t_out_consumer_k
    q_cons = m_cons * cp_pair(t_in_c, t_out_c) * (t_in_c - t_out_c)
    dp_cons = p[arr.c_sup] - p[arr.c_ret]
    # net outflow of every node through branches and consumers (and flow sources)
    net_out = (np.bincount(arr.frm, weights=m, minlength=n) - np.bincount(arr.to, weights=m, minlength=n)
               + np.bincount(arr.c_sup, weights=m_cons, minlength=n)
               - np.bincount(arr.c_ret, weights=m_cons, minlength=n))
    fs = ~arr.s_pressure
    m_src_sup = np.where(arr.s_pressure, net_out[arr.s_sup], arr.s_mdot_kg_s)
    m_src_ret = np.where(arr.s_pressure, -net_out[arr.s_ret], arr.s_mdot_kg_s)
    if fs.any():  # mass balance of flow-source nodes holds by construction
        pass
    t_src_ret = t[arr.s_ret]
    q_src = m_src_sup * cp_pair(arr.s_t_sup_k, t_src_ret) * (arr.s_t_sup_k - t_src_ret)
    rho_ret = water.density(t_src_ret)
    dp_src = p[arr.s_sup] - p[arr.s_ret]
    pump_w = m_src_sup * dp_src / rho_ret
    np_ = arr.n_pipes
    result = NetworkResult(
        network=network, options=opts, pandapipes_compatible=pandapipes_compatible, water_name=water.name,
        node_p_pa=p, node_t_k=t,
        branch_mdot_kg_s=m, branch_velocity_m_s=vel, branch_dp_pa=p[arr.frm] - p[arr.to],
        branch_t_in_k=t_in_b, branch_t_out_k=t_out_b, branch_heat_loss_w=q_loss, branch_reynolds=re,
        branch_lambda=lam, branch_rho_kg_m3=props.rho_kg_m3, n_pipes=np_, n_pumps=arr.n_pumps,
        valve_rows=arr.valve_rows,
        consumer_mdot_kg_s=m_cons, consumer_t_in_k=t_in_c, consumer_t_out_k=t_out_c, consumer_dp_pa=dp_cons,
        consumer_heat_w=q_cons, consumer_low_t=state.consumer_low_t,
        source_mdot_kg_s=m_src_sup, source_return_mdot_kg_s=m_src_ret, source_t_return_k=t_src_ret,
        source_heat_w=q_src, source_pump_power_w=pump_w, source_dp_pa=dp_src,
        iterations_coupled=it, iterations_hydraulic=hyd_iters, residuals_k=list(residuals), solve_s=0.0,
        stagnant_temperature_k=t_stag, warnings=[],
    )
    object.__setattr__(result, "warnings", _warnings(result, arr, opts, network))
    return result


def _warnings(r: NetworkResult, arr: NetworkArrays, opts: SolverOptions, net: Network) -> list[Warning_]:
    out: list[Warning_] = []
    pid = net.pipes.id
    v = np.abs(r.branch_velocity_m_s[: arr.n_pipes])
    fast = np.flatnonzero(v > opts.velocity_limit_m_s)
    if fast.size:
        out.append(Warning_("velocity", f"{fast.size} 条管道流速超过 {opts.velocity_limit_m_s:g} m/s",
                            f"{fast.size} pipe(s) faster than {opts.velocity_limit_m_s:g} m/s",
                            [str(pid[i]) for i in fast[np.argsort(-v[fast])][:50]]))
    need = net.consumers.min_dp_pa
    low_dp = np.flatnonzero(r.consumer_dp_pa < need)
    if low_dp.size:
        out.append(Warning_("consumer_dp", f"{low_dp.size} 个热用户/换热站资用压差不足",
                            f"{low_dp.size} consumer(s) with too little differential pressure",
                            [str(net.consumers.id[i]) for i in low_dp[np.argsort(r.consumer_dp_pa[low_dp])][:50]]))
    lowt = np.flatnonzero(r.consumer_low_t & (r.consumer_mdot_kg_s > 0))
    if lowt.size:
        out.append(Warning_("consumer_temperature", f"{lowt.size} 个热用户供水温度过低，达不到回水设定",
                            f"{lowt.size} consumer(s) get water too cold to reach their return set point",
                            [str(net.consumers.id[i]) for i in lowt[:50]]))
    if net.static_pressure_pa is not None:
        lim = net.static_pressure_pa + opts.pressure_margin_pa
        lowp = np.flatnonzero(r.node_p_pa < lim)
        if lowp.size:
            out.append(Warning_("pressure", f"{lowp.size} 个节点压力低于静压加裕量",
                                f"{lowp.size} node(s) below the static pressure plus margin",
                                [str(net.nodes.id[i]) for i in lowp[:50]]))
    stag = np.flatnonzero(np.abs(r.branch_mdot_kg_s[: arr.n_pipes]) <= opts.stagnant_flow_kg_s)
    if stag.size:
        out.append(Warning_("stagnant", f"{stag.size} 条管道无流动（滞流）", f"{stag.size} pipe(s) without flow",
                            [str(pid[i]) for i in stag[:50]]))
    neg = np.flatnonzero(r.source_mdot_kg_s < -opts.stagnant_flow_kg_s)
    if neg.size:
        out.append(Warning_("source_reverse", f"{neg.size} 个热源出现倒流", f"{neg.size} source(s) with reverse flow",
                            [str(net.sources.id[i]) for i in neg]))
    return out


__all__ = ["DEFAULT_OPTIONS", "PANDAPIPES_COMPATIBLE", "SolverOptions", "StartState", "solve", "G_M_S2"]
