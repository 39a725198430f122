"""Benchmark: coupled iterations and solve time of cleanheat.network over the load range.

The seeded networks of ../shared/tools/pandapipes_bench.py (return-temperature control, 5 % meshes) with every
consumer's heat demand scaled by the load fraction (part load is most of a heating season: Harbin's mean load
is about 45 % of design, the shoulder months 10-30 %). Both physics modes; ours only (no pandapipes).

    .venv/bin/python bench/bench_network_convergence.py
    .venv/bin/python bench/bench_network_convergence.py --sizes 500 5000 --loads 1 0.1

Prints a table, then ``name=value`` lines.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "bench"))

from bench_network import find_tool  # noqa: E402

from cleanheat.network.errors import NetworkSolveError  # noqa: E402
from cleanheat.network.io_bench import parse_dhnet_bench  # noqa: E402
from cleanheat.network.solver import solve  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[500, 5000, 50000])
    ap.add_argument("--loads", type=float, nargs="+", default=[1.0, 0.3, 0.1, 0.03])
    args = ap.parse_args()
    tool = find_tool()
    sys.path.insert(0, str(tool.parent))
    import pandapipes_bench

    out = []
    for n in args.sizes:
        base = parse_dhnet_bench(pandapipes_bench.generate_spec(n_consumers=n))
        for load in args.loads:
            net = base.replace(consumers=base.consumers.replace(heat_w=base.consumers.heat_w * load))
            for compat in (False, True):
                mode = "pandapipes" if compat else "default"
                try:
                    solve(net, pandapipes_compatible=compat)  # warm-up
                    r = min((solve(net, pandapipes_compatible=compat) for _ in range(2)), key=lambda x: x.solve_s)
                    it, s = r.iterations_coupled, r.solve_s
                except NetworkSolveError as exc:
                    it, s = -1, float("nan")
                    print(f"# {n} consumers, load {load}, {mode}: {exc}", flush=True)
                print(f"consumers={n:6d} load={load:5.2f} mode={mode:10s} coupled_iter={it:4d} solve_s={s:7.3f}",
                      flush=True)
                out.append((n, load, mode, it, s))
    for n, load, mode, it, s in out:
        tag = f"{n}_{int(round(load * 100))}pct_{mode}"
        print(f"network_iterations_{tag}={it}")
        print(f"network_solve_s_{tag}={s:.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
