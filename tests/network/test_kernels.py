"""The compiled thermal pass (numba, when installed) against the numpy path, and the sparse fallback when the flow
graph has a cycle (a mesh loop whose flows circulate while the hydraulics are still converging)."""

from __future__ import annotations

import numpy as np
import pytest

from cleanheat.network import kernels
from cleanheat.network.io_bench import parse_dhnet_bench
from cleanheat.network.solver import solve
from cleanheat.network.thermal import ThermalSolver


def _dense(n, u, d, b, c):
    m = np.eye(n)
    np.add.at(m, (d, u), c)
    return np.linalg.solve(m, b)


def test_sparse_fallback_with_partial_order_solves_a_cyclic_system():
    # 0 -> 1 -> 2 -> 3 -> 1 (a cycle 1-2-3) -> 4, and 0 -> 4 (two edges into 4)
    u = np.array([0, 1, 2, 3, 3, 0])
    d = np.array([1, 2, 3, 1, 4, 4])
    rng = np.random.default_rng(5)
    b1, b2 = rng.normal(size=5), rng.normal(size=5)
    c1, c2 = 0.4 * rng.uniform(-1, 1, size=6), 0.4 * rng.uniform(-1, 1, size=6)
    order = np.array([0, 1, 2, 3, 4])  # topological up to the cycle, the rest after it
    sol = ThermalSolver._sparse_substitute(5, u, d, b1, c1, b2, c2, order)
    assert np.allclose(sol[:, 0], _dense(5, u, d, b1, c1), rtol=1e-12, atol=1e-12)
    assert np.allclose(sol[:, 1], _dense(5, u, d, b2, c2), rtol=1e-12, atol=1e-12)
    # without an order (the numpy path's fallback) the same
    sol2 = ThermalSolver._sparse_substitute(5, u, d, b1, c1, b2, c2)
    assert np.allclose(sol, sol2, rtol=1e-12, atol=1e-12)


@pytest.mark.skipif(not kernels.AVAILABLE, reason="numba not installed (the numpy path is the one in use)")
def test_kernel_substitution_and_cycle_detection():
    u = np.array([0, 0, 1, 2, 2, 3, 1])
    d = np.array([1, 1, 2, 3, 4, 4, 4])  # parallel edges 0 -> 1
    rng = np.random.default_rng(3)
    b1, b2 = rng.normal(size=5), rng.normal(size=5)
    c1, c2 = rng.normal(size=7), rng.normal(size=7)
    sol, order = kernels.forward_substitute_pair(5, u, d, b1, c1, b2, c2)
    assert order is None
    assert np.allclose(sol[:, 0], _dense(5, u, d, b1, c1), rtol=1e-12, atol=1e-12)
    assert np.allclose(sol[:, 1], _dense(5, u, d, b2, c2), rtol=1e-12, atol=1e-12)
    # a cycle 1 -> 2 -> 1: node 0 is solved first, the others follow in the order for the sparse fallback
    sol, order = kernels.forward_substitute_pair(4, np.array([0, 1, 2, 2]), np.array([1, 2, 1, 3]),
                                                 np.ones(4), np.full(4, 0.5), np.ones(4), np.full(4, 0.5))
    assert sol is None and order[0] == 0 and sorted(order.tolist()) == [0, 1, 2, 3]


@pytest.mark.skipif(not kernels.AVAILABLE, reason="numba not installed (the numpy path is the one in use)")
@pytest.mark.parametrize(("load", "compat"), [(1.0, True), (0.1, False), (0.03, True)])
def test_compiled_and_numpy_paths_agree(bench_generator, monkeypatch, load, compat):
    """Same physics, same iteration: the compiled thermal pass gives the numpy path's solution (to rounding, far
    inside the accuracy targets) with a bounded number of passes at low load."""
    net = parse_dhnet_bench(bench_generator(n_consumers=500))
    net = net.replace(consumers=net.consumers.replace(heat_w=net.consumers.heat_w * load))
    fast = solve(net, pandapipes_compatible=compat)
    monkeypatch.setattr(kernels, "AVAILABLE", False)
    slow = solve(net, pandapipes_compatible=compat)
    assert fast.iterations_coupled < 80 and slow.iterations_coupled < 80
    assert np.max(np.abs(fast.node_t_k - slow.node_t_k)) < 1e-6
    assert np.max(np.abs(fast.node_p_pa - slow.node_p_pa)) < 1e-2
    m_ref = slow.branch_mdot_kg_s
    assert np.max(np.abs(fast.branch_mdot_kg_s - m_ref) / (1e-3 * np.abs(m_ref) + 1e-6)) < 1e-2
