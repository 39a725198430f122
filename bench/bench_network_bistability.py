"""Which steady state is physical when our cold start and pandapipes' differ (issue 13 item 4): a pseudo-transient.

Both solvers' states satisfy every equation on some large meshed networks (bench/RESULTS.md, network section). This
script follows a simple physical relaxation instead of a solver's iteration: per step the consumers set their flow
from the current inlet temperature (fast valves), the hydraulics settle completely, and the temperatures move a
fraction ``--alpha`` towards the steady profile of those flows (slow thermal transport). It runs
* from each of the two states, perturbed by +-``--perturb-k`` at random: does the perturbation decay (stable)?
* from the cold state both solvers start from (supply side at the supply temperature, return side at the return set
  point): which state does the transient reach?

    .venv/bin/python bench/bench_network_bistability.py net.json res.json          # files of pandapipes_bench.py
    .venv/bin/python bench/bench_network_bistability.py net.json res.json --steps 80 --alpha 0.2

Prints the distance to both states after selected steps. Uses the solver's internal helpers (pandapipes physics).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from cleanheat.network.arrays import NetworkArrays, build_topology  # noqa: E402
from cleanheat.network.hydraulics import CoreSystem, solve_hydraulics  # noqa: E402
from cleanheat.network.io_bench import parse_dhnet_bench  # noqa: E402
from cleanheat.network.solver import (  # noqa: E402
    SolverOptions,
    StartState,
    _branch_props,
    _initial_state,
    _warm_state,
    solve,
)
from cleanheat.network.thermal import ThermalSolver, ThermalState  # noqa: E402


class Relaxation:
    """The pseudo-transient on one network (pandapipes-compatible physics)."""

    def __init__(self, net) -> None:
        self.net = net
        opts = SolverOptions.make(None, pandapipes_compatible=True)
        self.water = opts.water_table()
        self.arr = NetworkArrays.from_network(net)
        self.topo = build_topology(self.arr)
        self.core = CoreSystem(self.arr, self.topo)
        self.thermal = ThermalSolver(self.arr, self.water, "mean", net.ground_temperature_k, opts.min_consumer_dt_k,
                                     opts.stagnant_flow_kg_s)

    def step(self, state: ThermalState, m: np.ndarray | None, alpha: float) -> tuple[ThermalState, np.ndarray]:
        arr, th = self.arr, self.thermal
        n = arr.n_nodes
        t = state.t_node_k
        t_in = t[arr.c_sup]
        t_out, _low, _slope = th.consumer_outlet(t_in)
        m_cons = arr.c_heat_w / (th.cp_pair(t_in, t_out) * (t_in - t_out))
        demand = np.bincount(arr.c_sup, weights=m_cons, minlength=n) - np.bincount(arr.c_ret, weights=m_cons,
                                                                                  minlength=n)
        props = _branch_props(arr, self.water, th.cp_pair, t, state.t_out_branch_k, m, self.topo.core_branches)
        hyd = solve_hydraulics(arr, self.topo, demand, props, "colebrook", m, max_iter=60, hanging_pressures=False,
                               core=self.core)
        new = th.solve(hyd.m_branch, m_cons, state)
        relaxed = ThermalState(
            t_node_k=t + alpha * (new.t_node_k - t),
            t_out_branch_k=state.t_out_branch_k + alpha * (new.t_out_branch_k - state.t_out_branch_k),
            t_out_consumer_k=new.t_out_consumer_k, consumer_low_t=new.consumer_low_t,
            sens_k_per_kg_s=new.sens_k_per_kg_s)
        return relaxed, hyd.m_branch

    def run(self, start, perturb_k: float, steps: int, alpha: float, states: dict, label: str) -> None:
        arr = self.arr
        if start is None:
            state, m = _initial_state(self.net, arr), None
        else:
            state, m = _warm_state(start, arr, _initial_state(self.net, arr))
        rng = np.random.default_rng(1)
        state.t_node_k = state.t_node_k + rng.uniform(-perturb_k, perturb_k, arr.n_nodes)
        state.t_node_k[arr.s_sup] = arr.s_t_sup_k
        show = {1, 5, 10, 20, 40, 80, 160, steps}
        for k in range(1, steps + 1):
            state, m = self.step(state, m, alpha)
            if k in show:
                dist = "  ".join(f"max|T - {name}|={np.abs(state.t_node_k - r.node_t_k).max():.2e} K "
                                 f"max|m - {name}|={np.abs(m[: arr.n_pipes] - r.pipe_mdot_kg_s).max():.2e} kg/s"
                                 for name, r in states.items())
                print(f"from {label}, step {k:4d}: {dist}", flush=True)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("net")
    ap.add_argument("res")
    ap.add_argument("--alpha", type=float, default=0.5)
    ap.add_argument("--perturb-k", type=float, default=0.05)
    ap.add_argument("--steps", type=int, default=60)
    args = ap.parse_args()
    net = parse_dhnet_bench(json.loads(Path(args.net).read_text()))
    ref = json.loads(Path(args.res).read_text())
    ours = solve(net, pandapipes_compatible=True)
    pp = solve(net, pandapipes_compatible=True, start=StartState(
        t_node_k=np.array(ref["nodes"]["t_k"]), mdot_branch_kg_s=np.array(ref["pipes"]["mdot_kg_per_s"]),
        t_out_branch_k=np.array(ref["pipes"]["t_outlet_k"])))
    states = {"ours": ours, "pandapipes": pp}
    print(f"the two states differ by {np.abs(ours.node_t_k - pp.node_t_k).max():.3g} K at most")
    relax = Relaxation(net)
    relax.run(None, 0.0, args.steps, args.alpha, states, "the cold state")
    for name, r in states.items():
        relax.run(r, args.perturb_k, args.steps, args.alpha, states, f"{name} +-{args.perturb_k} K")
    return 0


if __name__ == "__main__":
    sys.exit(main())
