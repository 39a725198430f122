"""Benchmark: coupled iterations and solve time of cleanheat.network over the load range.

The seeded networks of ../shared/tools/pandapipes_bench.py (return-temperature control, 5 % meshes) with every
consumer's heat demand scaled by the load fraction (part load is most of a heating season: Harbin's mean load
is about 45 % of design, the shoulder months 10-30 %). Both physics modes; ours only (no pandapipes). Times are
``solve_s``, the best of 2 after a warm-up. Targets (issue 13): 50,000 consumers at 10 % load <= 1.5 s, at 3 %
<= 2.5 s. Seed 42 (the default) is the one the solver was tuned on; ``--seeds`` adds others.

    .venv/bin/python bench/bench_network_convergence.py
    .venv/bin/python bench/bench_network_convergence.py --sizes 500 5000 --loads 1 0.1
    .venv/bin/python bench/bench_network_convergence.py --sizes 50000 --loads 0.1 0.03 --seeds 42 1 2

Prints a table, then ``name=value`` lines.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "bench"))

from bench_network import find_tool  # noqa: E402

from cleanheat.network.errors import NetworkSolveError  # noqa: E402
from cleanheat.network.io_bench import parse_dhnet_bench  # noqa: E402
from cleanheat.network.solver import solve  # noqa: E402

TARGETS_S = {(50000, 0.1): 1.5, (50000, 0.03): 2.5}  # issue 13 item 4


def run_case(net, compat: bool) -> tuple[int, float]:
    try:
        solve(net, pandapipes_compatible=compat)  # warm-up
        r = min((solve(net, pandapipes_compatible=compat) for _ in range(2)), key=lambda x: x.solve_s)
        return r.iterations_coupled, r.solve_s
    except NetworkSolveError as exc:
        print(f"# {exc}", flush=True)
        return -1, float("nan")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[500, 5000, 50000])
    ap.add_argument("--loads", type=float, nargs="+", default=[1.0, 0.3, 0.1, 0.03])
    ap.add_argument("--seeds", type=int, nargs="+", default=[42])
    args = ap.parse_args()
    tool = find_tool()
    sys.path.insert(0, str(tool.parent))
    import pandapipes_bench

    print(f"# load average at the start {os.getloadavg()}", flush=True)
    out = []
    for n in args.sizes:
        for seed in args.seeds:
            base = parse_dhnet_bench(pandapipes_bench.generate_spec(n_consumers=n, seed=seed))
            for load in args.loads:
                net = base.replace(consumers=base.consumers.replace(heat_w=base.consumers.heat_w * load))
                for compat in (False, True):
                    mode = "pandapipes" if compat else "default"
                    it, s = run_case(net, compat)
                    target = TARGETS_S.get((n, load))
                    mark = "" if target is None else f" target<={target} s met={s <= target}"
                    print(f"consumers={n:6d} seed={seed:3d} load={load:5.2f} mode={mode:10s} coupled_iter={it:4d} "
                          f"solve_s={s:7.3f}{mark}", flush=True)
                    out.append((n, seed, load, mode, it, s))
    print(f"# load average at the end {os.getloadavg()}")
    for n, seed, load, mode, it, s in out:
        tag = f"{n}_seed{seed}_{int(round(load * 100))}pct_{mode}"
        print(f"network_iterations_{tag}={it}")
        print(f"network_solve_s_{tag}={s:.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
