"""Benchmark: cleanheat.network against pandapipes 0.16, side by side on the same seeded networks.

Networks come from the shared generator ../shared/tools/pandapipes_bench.py (run as a script, not copied):
``--dump-net`` writes dhnet-bench/1, which both solvers read. pandapipes runs in its own process through the
same script (bidirectional mode, Colebrook, best of its timed repeats after a warm-up solve); cleanheat runs
in this process in pandapipes-compatible mode (best of 3 after a warm-up), and the results are compared.

Accuracy is reported twice per size, honestly:
* ``cold``: our own solve from our default start against pandapipes' result (the headline figures);
* ``from_pp``: our solve started from pandapipes' solution (its temperatures, flows and pipe outlet
  temperatures). On the largest networks the coupled equations have more than one solution (docs/network.md):
  a cold start may land on another one, differing in a few low-flow mesh pipes and the consumers behind
  them, while pandapipes' state is still a solution of our equations (``from_pp`` within the targets).
Targets (issue 3): node pressures within 0.1 kPa, temperatures within 0.01 K, pipe flows within 0.1 %
(+1e-6 kg/s, far below pandapipes' own 1e-5 kg/s flow tolerance).

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
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from cleanheat.network.io_bench import parse_dhnet_bench  # noqa: E402
from cleanheat.network.solver import StartState, solve  # noqa: E402


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


def accuracy(r, ref: dict, net) -> dict:
    """Differences to pandapipes' result and how many elements miss the targets."""
    p_ref = np.array(ref["nodes"]["p_bar"]) * 1e5
    t_ref = np.array(ref["nodes"]["t_k"])
    m_ref = np.array(ref["pipes"]["mdot_kg_per_s"])
    dp = np.abs(r.node_p_pa - p_ref)
    dt = np.abs(r.node_t_k - t_ref)
    dm_abs = np.abs(r.pipe_mdot_kg_s - m_ref)
    over = dm_abs > 1e-3 * np.abs(m_ref) + 1e-6
    mesh = np.asarray(net.pipes.kind) == "mesh"
    out = {"dp": float(dp.max()), "dt": float(dt.max()),
           "dm": float(np.max(dm_abs / np.maximum(np.abs(m_ref), 1e-6))),
           "n_dp": int(np.sum(dp > 100.0)), "n_dt": int(np.sum(dt > 0.01)), "n_dm": int(over.sum()),
           "n_dm_mesh": int(np.sum(over & mesh))}
    out["met"] = out["n_dp"] == 0 and out["n_dt"] == 0 and out["n_dm"] == 0
    return out


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
                r = solve(net, pandapipes_compatible=True)
                times.append(r.solve_s)  # the solve alone (arrays, topology, iteration, result), as summary.solve_s
            t_ours = min(times)
            t_default = min(solve(net).solve_s for _ in range(2))
            acc = {"cold": None, "from_pp": None}
            if not args.no_pandapipes:
                ref = json.loads(res_p.read_text())
                acc["cold"] = accuracy(r, ref, net)
                warm = solve(net, pandapipes_compatible=True, start=StartState(
                    t_node_k=np.array(ref["nodes"]["t_k"]), mdot_branch_kg_s=np.array(ref["pipes"]["mdot_kg_per_s"]),
                    t_out_branch_k=np.array(ref["pipes"]["t_outlet_k"])))
                acc["from_pp"] = accuracy(warm, ref, net) | {"iterations": warm.iterations_coupled}
            rows.append(dict(n=n, pipes=len(net.pipes), pp=t_pp, ours=t_ours, default=t_default, ratio=t_pp / t_ours,
                             acc=acc, it=r.iterations_coupled))
            row = rows[-1]
            print(f"consumers={n:6d} pipes={row['pipes']:7d} pandapipes_s={t_pp:8.3f} ours_s={t_ours:7.3f} "
                  f"ours_default_s={t_default:7.3f} speedup={row['ratio']:6.1f}x coupled_iter={row['it']}", flush=True)
            for kind, a in acc.items():
                if a is None:
                    continue
                print(f"    accuracy {kind:7s}: max_dp_pa={a['dp']:.2e} max_dt_k={a['dt']:.2e} "
                      f"max_rel_dm={a['dm']:.2e} nodes_over_0.1kPa={a['n_dp']} nodes_over_0.01K={a['n_dt']} "
                      f"pipes_over_0.1%={a['n_dm']} (mesh {a['n_dm_mesh']}) targets_met={a['met']}"
                      + (f" iterations={a['iterations']}" if "iterations" in a else ""), flush=True)
    for row in rows:
        n = row["n"]
        print(f"network_pandapipes_s_{n}={row['pp']:.4f}")
        print(f"network_ours_s_{n}={row['ours']:.4f}")
        print(f"network_speedup_{n}={row['ratio']:.1f}")
        print(f"network_ours_default_s_{n}={row['default']:.4f}")
        for kind, a in row["acc"].items():
            if a is not None:
                print(f"network_accuracy_{kind}_{n}_targets_met={int(a['met'])}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
