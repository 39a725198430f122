"""Fixtures for the network tests: seeded dhnet-bench/1 networks and pandapipes' results for them.

They are shipped in ``data/pandapipes/`` (written by ``make_golden.py``, which runs the shared benchmark generator
../shared/tools/pandapipes_bench.py; its code is not copied here), so these tests never depend on ../shared being
present. A case that is not shipped is computed live with the generator if it is there, and fails otherwise.
"""

from __future__ import annotations

import json
import sys
from functools import cache
from pathlib import Path

import pytest

from tests.network.make_golden import MANIFEST, case_tag, find_tool, read_gz, run_tool


@cache
def shipped() -> dict[str, dict]:
    return {c["tag"]: c for c in json.loads(MANIFEST.read_text(encoding="utf-8"))["cases"]}


def _tool_or_fail(tag: str) -> Path:
    tool = find_tool()
    if tool is None:
        pytest.fail(f"no shipped pandapipes reference for {tag}: add the case to tests/network/make_golden.py and "
                    "run it (it needs ../shared/tools/pandapipes_bench.py)")
    return tool


@pytest.fixture(scope="session")
def pandapipes_case(tmp_path_factory):
    """``case(n, **opts) -> (net_doc, result_doc)`` solved by pandapipes (shipped, cached per session)."""
    cache_: dict[str, tuple[dict, dict]] = {}

    def case(n: int, **opts) -> tuple[dict, dict]:
        tag = case_tag(n, opts)
        if tag not in cache_:
            entry = shipped().get(tag)
            if entry is not None and entry["results"]:
                cache_[tag] = (read_gz(entry["net"]), read_gz(entry["results"]))
            else:
                net, res = run_tool(_tool_or_fail(tag), n, opts, tmp_path_factory.mktemp("ppbench"))
                cache_[tag] = (json.loads(net.read_text()), json.loads(res.read_text()))
        return cache_[tag]

    return case


@pytest.fixture(scope="session")
def bench_generator():
    """The benchmark generator's ``generate_spec(n_consumers=1000, **opts)``: shipped networks, else the tool."""

    def generate_spec(n_consumers: int = 1000, **opts) -> dict:
        tag = case_tag(n_consumers, opts)
        entry = shipped().get(tag)
        if entry is not None:
            return read_gz(entry["net"])
        tool = _tool_or_fail(tag)
        sys.path.insert(0, str(tool.parent))
        try:
            import pandapipes_bench
        finally:
            sys.path.remove(str(tool.parent))
        return pandapipes_bench.generate_spec(n_consumers=n_consumers, **opts)

    return generate_spec
