"""Convergence of the coupled iteration on the seeded benchmark networks (generator in ../shared/tools): the
500-consumer network whose low-flow mesh pipe once took ~100 passes, part and very low load, warm starts."""

from __future__ import annotations

import numpy as np
import pytest

from cleanheat.network.io_bench import parse_dhnet_bench
from cleanheat.network.solver import StartState, solve


@pytest.fixture(scope="module")
def net500(bench_generator):
    return parse_dhnet_bench(bench_generator(n_consumers=500))


def _balance_ok(r) -> None:
    s = r.summary()
    assert s["consumer_heat_w"] == pytest.approx(s["consumer_demand_w"], rel=1e-8)
    if not r.pandapipes_compatible:  # enthalpy convention: exactly conservative
        assert s["source_heat_w"] == pytest.approx(s["consumer_heat_w"] + s["heat_loss_pipes_w"], rel=1e-9)


@pytest.mark.parametrize("compat", [False, True])
def test_full_load_few_passes(net500, compat):
    r = solve(net500, pandapipes_compatible=compat)
    assert r.iterations_coupled <= 15  # was 84 / 105 before the consumer-flow update with Anderson acceleration
    _balance_ok(r)


@pytest.mark.parametrize("load", [0.1, 0.01])
@pytest.mark.parametrize("compat", [False, True])
def test_low_load_converges(net500, load, compat):
    net = net500.replace(consumers=net500.consumers.replace(heat_w=net500.consumers.heat_w * load))
    r = solve(net, pandapipes_compatible=compat)
    assert r.iterations_coupled < 80
    _balance_ok(r)
    # at 1 % load some consumers get water colder than their return set point: they are flagged
    if load == 0.01:
        assert np.any(r.consumer_low_t) == any(w.code == "consumer_temperature" for w in r.warnings)


def test_warm_start_reproduces_the_solution(net500):
    r = solve(net500)
    again = solve(net500, start=r)
    assert again.iterations_coupled <= 3
    assert np.max(np.abs(again.node_t_k - r.node_t_k)) < 1e-6
    assert np.max(np.abs(again.node_p_pa - r.node_p_pa)) < 1e-3
    # a start of the wrong size is refused
    with pytest.raises(ValueError, match="one value per node"):
        solve(net500, start=StartState(t_node_k=np.zeros(3)))


def test_damped_drift_is_undamped_but_an_oscillation_stays_damped():
    """The coupled update damps when the temperature change grows twice in a row; damped steps that keep
    pointing the same way (a slow drift away from an unstable state) halve the damping again after
    DRIFT_PASSES passes, alternating steps (an oscillation) keep it."""
    from cleanheat.network.solver import DRIFT_PASSES, ConsumerFlowUpdate

    def run(direction):
        up = ConsumerFlowUpdate(0)
        residuals = [1.0, 2.0, 3.0]  # growing: the update damps
        m = np.array([1.0, 2.0])
        relax = []
        for k in range(2 + 2 * DRIFT_PASSES):  # damped twice, then two drift rounds back to no damping
            f = m + 0.1 * direction(k)  # the fixed-point map pulls along +-direction
            m = up.next(m, f, np.zeros(2), residuals, anderson_start_k=0.0)
            relax.append(up.relax)
            residuals.append(residuals[-1] * 1.01)  # still growing
        return relax

    drift = run(lambda k: np.array([1.0, 0.5]))
    osc = run(lambda k: (-1.0) ** k * np.array([1.0, 0.5]))
    assert drift[0] == 0.5 and osc[0] == 0.5  # damped first
    assert drift[-1] == 1.0  # undamped by the drift although the temperature change still grows
    assert osc[-1] == 0.125  # the oscillation damped further
