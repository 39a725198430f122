"""Benchmark: cleanheat.network against pandapipes 0.16, side by side on the same seeded networks.

Networks come from the shared generator ../shared/tools/pandapipes_bench.py (run as a script, not copied):
``--dump-net`` writes dhnet-bench/1, which both solvers read. pandapipes runs in its own process through the
same script (bidirectional mode, Colebrook, best of its timed repeats after a warm-up solve); cleanheat runs
in this process in pandapipes-compatible mode (best of 3 after a warm-up), and the results are compared.

    .venv/bin/python bench/bench_network.py                       # 100 ... 50,000 consumers
    .venv/bin/python bench/bench_network.py --sizes 100 1000 5000 --repeats 1
    .venv/bin/python bench/bench_network.py --no-pandapipes       # ours only

Prints a table, then ``name=value`` lines.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from cleanheat.network.io_bench import parse_dhnet_bench  # noqa: E402
from cleanheat.network.solver import solve  # noqa: E402


def find_tool() -> Path:
    for d in (ROOT.parent / "shared" / "tools", ROOT.parents[1] / "shared" / "tools", Path("/work/shared/tools")):
        if (d / "pandapipes_bench.py").exists():
            return d / "pandapipes_bench.py"
    raise SystemExit("../shared/tools/pandapipes_bench.py not found")


def run_pandapipes(tool: Path, n: int, net: Path, res: Path | None, repeats: int) -> float:
    args = [sys.executable, str(tool), "-n", str(n), "--repeats", str(repeats), "--dump-net", str(net)]
    if res is not None:
        args += ["--dump-results", str(res)]
    out = subprocess.run(args, check=True, capture_output=True, text=True).stdout
    m = re.search(r"best_s=([0-9.]+)", out)
    return float(m.group(1))


def dump_net_only(tool: Path, n: int, net: Path) -> None:
    sys.path.insert(0, str(tool.parent))
    import pandapipes_bench

    net.write_text(json.dumps(pandapipes_bench.generate_spec(n_consumers=n)))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[100, 500, 1000, 5000, 20000, 50000])
    ap.add_argument("--repeats", type=int, default=2, help="pandapipes timed repeats after its first solve")
    ap.add_argument("--no-pandapipes", action="store_true")
    args = ap.parse_args()
    tool = find_tool()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for n in args.sizes:
            net_p, res_p = Path(tmp) / f"net_{n}.json", Path(tmp) / f"res_{n}.json"
            if args.no_pandapipes:
                dump_net_only(tool, n, net_p)
                t_pp = float("nan")
            else:
                t_pp = run_pandapipes(tool, n, net_p, res_p, args.repeats)
            net = parse_dhnet_bench(json.loads(net_p.read_text()))
            solve(net, pandapipes_compatible=True)  # warm-up
            times = []
            for _ in range(3):
                t0 = time.perf_counter()
                r = solve(net, pandapipes_compatible=True)
                times.append(time.perf_counter() - t0)
            t_ours = min(times)
            t_default = min(solve(net).solve_s for _ in range(2))
            dp = dt = dm = float("nan")
            if not args.no_pandapipes:
                ref = json.loads(res_p.read_text())
                dp = float(np.max(np.abs(r.node_p_pa - np.array(ref["nodes"]["p_bar"]) * 1e5)))
                dt = float(np.max(np.abs(r.node_t_k - np.array(ref["nodes"]["t_k"]))))
                mref = np.array(ref["pipes"]["mdot_kg_per_s"])
                dm = float(np.max(np.abs(r.pipe_mdot_kg_s - mref) / np.maximum(np.abs(mref), 1e-6)))
            rows.append(dict(n=n, pipes=len(net.pipes), pp=t_pp, ours=t_ours, default=t_default, ratio=t_pp / t_ours,
                             dp=dp, dt=dt, dm=dm, it=r.iterations_coupled))
            row = rows[-1]
            print(f"consumers={n:6d} pipes={row['pipes']:7d} pandapipes_s={t_pp:8.3f} ours_s={t_ours:7.3f} "
                  f"ours_default_s={t_default:7.3f} speedup={row['ratio']:6.1f}x max_dp_pa={dp:.2e} "
                  f"max_dt_k={dt:.2e} max_rel_dm={dm:.2e} coupled_iter={row['it']}", flush=True)
    for row in rows:
        n = row["n"]
        print(f"network_pandapipes_s_{n}={row['pp']:.4f}")
        print(f"network_ours_s_{n}={row['ours']:.4f}")
        print(f"network_speedup_{n}={row['ratio']:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
