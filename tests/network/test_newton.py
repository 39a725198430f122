"""The tangent of the coupled pass (newton.py) against finite differences, GMRES, the Newton and escape steps of
the coupled iteration, and that they leave the solution where the fixed-point iteration alone puts it."""

from __future__ import annotations

import numpy as np
import pytest

from cleanheat.network import kernels
from cleanheat.network import solver as solver_mod
from cleanheat.network.arrays import NetworkArrays, build_topology
from cleanheat.network.hydraulics import CoreSystem, solve_hydraulics
from cleanheat.network.io_bench import parse_dhnet_bench
from cleanheat.network.newton import CoupledTangent, gmres
from cleanheat.network.solver import SolverOptions, solve
from cleanheat.network.thermal import ThermalSolver


@pytest.fixture(scope="module")
def net500(bench_generator):
    return parse_dhnet_bench(bench_generator(n_consumers=500))


def _scaled(net, load):
    return net.replace(consumers=net.consumers.replace(heat_w=net.consumers.heat_w * load))


class _Pass:
    """One coupled pass with converged hydraulics and thermal solve, at given consumer flows: ``F(m)``."""

    def __init__(self, net, result):
        opts = SolverOptions.make(None, pandapipes_compatible=True)
        self.water = opts.water_table()
        self.arr = NetworkArrays.from_network(net)
        self.topo = build_topology(self.arr, net.nodes.id)
        self.core = CoreSystem(self.arr, self.topo)
        self.thermal = ThermalSolver(self.arr, self.water, "mean", net.ground_temperature_k, opts.min_consumer_dt_k,
                                     opts.stagnant_flow_kg_s)
        self.state, self.mb = solver_mod._warm_state(result, self.arr, solver_mod._initial_state(net, self.arr))

    def __call__(self, m):
        arr, th = self.arr, self.thermal
        demand = (np.bincount(arr.c_sup, weights=m, minlength=arr.n_nodes)
                  - np.bincount(arr.c_ret, weights=m, minlength=arr.n_nodes))
        props = solver_mod._branch_props(arr, self.water, th.cp_pair, self.state.t_node_k,
                                         self.state.t_out_branch_k, self.mb, self.topo.core_branches)
        hyd = solve_hydraulics(arr, self.topo, demand, props, "colebrook", self.mb, max_iter=50,
                               hanging_pressures=False, core=self.core)
        st = self.state
        for _ in range(4):  # the heat capacities follow the temperatures
            st = th.solve(hyd.m_branch, m, st)
        t_in = st.t_node_k[arr.c_sup]
        t_out, _low, slope = th.consumer_outlet(t_in)
        f = arr.c_heat_w / (th.cp_pair(t_in, t_out) * (t_in - t_out))
        return f, st, hyd.m_branch, -f / (t_in - t_out) * slope


@pytest.mark.parametrize("compiled", [True, False])
@pytest.mark.parametrize("load", [1.0, 0.1])
def test_tangent_matches_finite_differences(net500, monkeypatch, compiled, load):
    if not compiled:
        monkeypatch.setattr(kernels, "AVAILABLE", False)
    elif not kernels.AVAILABLE:
        pytest.skip("numba not installed")
    net = _scaled(net500, load)
    res = solve(net, pandapipes_compatible=True)
    F = _Pass(net, res)
    m0 = res.consumer_mdot_kg_s.copy()
    f0, st, mb, df_dtin = F(m0)
    assert np.max(np.abs(f0 - m0)) < 1e-8  # at the solution
    tan = CoupledTangent(F.arr, F.topo, F.core, F.thermal, mb, st.t_node_k, df_dtin)
    rng = np.random.default_rng(11)
    for v in (m0 * 1e-4 * rng.standard_normal(len(m0)), np.where(np.arange(len(m0)) % 97 == 0, 1e-4 * m0, 0.0)):
        fd = (F(m0 + v)[0] - F(m0 - v)[0]) / 2.0
        jv = tan.matvec(v)
        assert np.max(np.abs(fd)) > 0
        # the tangent holds the heat capacities: agreement to a few per cent of the largest change
        assert np.max(np.abs(jv - fd)) < 0.03 * np.max(np.abs(fd))
    # the dense block is the matrix-vector product on unit vectors
    idx = np.argsort(-m0)[:5]
    block = tan.block(idx)
    for j, c in enumerate(idx):
        e = np.zeros(len(m0))
        e[c] = 1.0
        assert np.allclose(block[:, j], tan.matvec(e)[idx], rtol=1e-10, atol=1e-14)


def test_gmres_solves_a_nonsymmetric_system():
    rng = np.random.default_rng(2)
    a = -np.eye(30) * rng.uniform(1, 5, 30) + 0.2 * rng.standard_normal((30, 30))
    b = rng.standard_normal(30)
    x, k, rel = gmres(lambda v: a @ v, b, 1.0 / np.diag(a), 1e-10, 30)
    assert rel <= 1e-10 and k <= 30
    assert np.allclose(x, np.linalg.solve(a, b), rtol=1e-8, atol=1e-10)
    # a product that cannot be formed (thermal cycle) gives no step
    x, _k, rel = gmres(lambda v: None, b, np.ones(30), 1e-3, 5)
    assert rel == 1.0 and not x.any()


def test_escape_step_grows_unstable_modes_and_solves_stable_ones(monkeypatch):
    """Block dF/dm with eigenvalues 1.5 (unstable) and 0.5: the unstable mode's residual grows (1 + gain)-fold
    in the linear model, the stable one's is solved (a Newton step)."""
    block = np.array([[1.5, 0.0], [0.0, 0.5]])

    class FakeTangent:
        def __init__(self, *args):
            pass

        def block(self, idx):
            return block[np.ix_(idx, idx)]

    monkeypatch.setattr(solver_mod, "CoupledTangent", FakeTangent)
    m = np.array([1.0, 1.0])
    f = m + 1e-3
    idx, m_new = solver_mod._escape_step(None, None, None, None, None, None, None, m, f)
    step = np.zeros(2)
    step[idx] = m_new - m[idx]
    r_lin = (f - m) + (block - np.eye(2)) @ step
    assert r_lin[0] == pytest.approx((1 + solver_mod.ESCAPE_GAIN) * 1e-3)
    assert r_lin[1] == pytest.approx(0.0, abs=1e-15)
    # no unstable mode: nothing to escape from
    block = np.array([[0.5, 0.1], [0.0, 0.2]])
    assert solver_mod._escape_step(None, None, None, None, None, None, None, m, f) is None


@pytest.mark.parametrize(("load", "compat"), [(1.0, True), (0.1, True), (0.03, False)])
def test_newton_and_escape_keep_the_solution_with_fewer_passes(net500, monkeypatch, load, compat):
    net = _scaled(net500, load)
    fast = solve(net, pandapipes_compatible=compat)
    monkeypatch.setattr(solver_mod, "ESCAPE_LOCAL_N", -1)  # no escape steps
    plain = solve(net, {"newton_below_kg_s": 0.0}, pandapipes_compatible=compat)
    assert fast.iterations_coupled <= plain.iterations_coupled
    assert np.max(np.abs(fast.node_t_k - plain.node_t_k)) < 1e-5
    assert np.max(np.abs(fast.node_p_pa - plain.node_p_pa)) < 1.0
    m_ref = plain.branch_mdot_kg_s
    assert np.max(np.abs(fast.branch_mdot_kg_s - m_ref) / (1e-3 * np.abs(m_ref) + 1e-6)) < 1e-2


def test_newton_option_is_checked():
    with pytest.raises(ValueError, match="newton_below_kg_s"):
        SolverOptions.make({"newton_below_kg_s": -1.0})
