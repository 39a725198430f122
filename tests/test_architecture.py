"""The house plan, checked: which area may import which (docs/DEVELOPING.md, "Areas and the import rules").

The import graph is read from the source (every ``import`` statement, also those inside functions and under
``TYPE_CHECKING``), so it needs no import of the package. Optional links between areas that are looked up at
run time (``importlib.import_module`` of a declared module, e.g. the programme's evidence from the emissions
area) are not static imports and so are not edges.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
PACKAGE = "cleanheat"

#: top-level modules that belong to one area (the spreadsheet reader is one room in three files)
AREA_ALIASES = {"tabular_xlsx": "tabular", "tabular_formula": "tabular"}

#: pure cores: no storage, no web, no CLI, not even through what they import (ARCHITECTURE rule 1)
PURE_CORES = (
    "cleanheat.network.solver",
    "cleanheat.emissions.hj212.codec",
    "cleanheat.planner.pathway",
    "cleanheat.planner.appraisal",
    "cleanheat.programme.indicators",
    "cleanheat.telemetry.alarm_rules",
    "cleanheat.billing.cjt188",
    "cleanheat.billing.mbus",
    "cleanheat.billing.validation",
    "cleanheat.billing.tariffs",
    "cleanheat.billing.settlement",
    "cleanheat.billing.fen",
)
#: what a pure core may not reach: these areas, and these third-party packages
CORE_FORBIDDEN_AREAS = frozenset({"store", "web", "cli"})
CORE_FORBIDDEN_PACKAGES = frozenset({"sqlalchemy", "fastapi", "starlette", "typer", "alembic"})

#: files of web/ and cli/ that still import sqlalchemy (queries not yet moved into an area's service). This list
#: may only shrink: a new file that imports sqlalchemy fails, and so does a listed file that no longer does.
SQLALCHEMY_ALLOWED = frozenset({
    "cleanheat.cli.common",  # the session plumbing: db_session() -> Session, the SQLite URL check
    "cleanheat.web.deps",  # the session plumbing: DbSession = Annotated[Session, Depends(get_db)]
})


# --- the graph ------------------------------------------------------------------------------------------------

def module_name(path: Path, src: Path = SRC) -> str:
    parts = list(path.relative_to(src).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def read_imports(src: Path = SRC, package: str = PACKAGE) -> tuple[dict[str, dict[str, int]], dict[str, set[str]]]:
    """({module: {imported cleanheat module: line}}, {module: {third-party top-level package}}) for every module
    of ``package`` under ``src``."""
    modules = {module_name(p, src): p for p in sorted((src / package).rglob("*.py"))}
    internal: dict[str, dict[str, int]] = {}
    external: dict[str, set[str]] = {}
    for mod, path in modules.items():
        internal[mod], external[mod] = {}, set()
        is_pkg = path.name == "__init__.py"
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = mod.split(".") if is_pkg else mod.split(".")[:-1]
                    base = base[: len(base) - (node.level - 1)]
                    target = ".".join(base + ([node.module] if node.module else []))
                else:
                    target = node.module or ""
                targets = [target]
                # ``from cleanheat.web import formatting`` imports the module cleanheat.web.formatting
                targets += [f"{target}.{a.name}" for a in node.names if f"{target}.{a.name}" in modules]
            for t in targets:
                if t == package or t.startswith(package + "."):
                    if t in modules and t != mod:
                        internal[mod].setdefault(t, node.lineno)
                elif t:
                    external[mod].add(t.split(".")[0])
    return internal, external


def area_of(module: str) -> str:
    """``cleanheat.programme.publish`` -> ``programme``; top-level modules are their own area."""
    parts = module.split(".")
    name = parts[1] if len(parts) > 1 else parts[0]
    return AREA_ALIASES.get(name, name)


def area_graph(internal: dict[str, dict[str, int]]) -> dict[str, dict[str, list[str]]]:
    """{area: {imported area: ["module:line -> module", ...]}} (imports inside an area are left out)."""
    out: dict[str, dict[str, list[str]]] = defaultdict(dict)
    for mod, targets in internal.items():
        for t, line in targets.items():
            a, b = area_of(mod), area_of(t)
            if a != b:
                out[a].setdefault(b, []).append(f"{mod}:{line} -> {t}")
    return out


def find_cycles(graph: dict[str, dict[str, list[str]]]) -> list[list[str]]:
    """Every strongly connected group of more than one area (Tarjan), each sorted; empty when acyclic."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []
    nodes = sorted(set(graph) | {b for e in graph.values() for b in e})

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, {})):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for n in nodes:
        if n not in index:
            visit(n)
    return groups


def describe_cycles(graph: dict[str, dict[str, list[str]]], groups: list[list[str]]) -> str:
    lines = []
    for g in groups:
        lines.append("cycle between " + ", ".join(g) + ":")
        lines += [f"  {a} -> {b}: {ev[0]}" for a in g for b, ev in sorted(graph.get(a, {}).items()) if b in g]
    return "\n".join(lines)


def reachable(internal: dict[str, dict[str, int]], start: str) -> dict[str, str]:
    """{module reachable from ``start``: the module that imports it on the way}."""
    seen = {start: ""}
    todo = [start]
    while todo:
        m = todo.pop()
        for t in internal.get(m, {}):
            if t not in seen:
                seen[t] = m
                todo.append(t)
    return seen


def core_violations(internal: dict[str, dict[str, int]], external: dict[str, set[str]],
                    cores: tuple[str, ...] = PURE_CORES) -> list[str]:
    """What each pure core reaches (itself or through its imports) that it may not: a module of a forbidden
    area, or a forbidden third-party package."""
    out = []
    for core in cores:
        via = reachable(internal, core)

        def chain(m: str, via: dict[str, str] = via) -> str:
            path = [m]
            while via[path[-1]]:
                path.append(via[path[-1]])
            return " <- ".join(path)

        for m in sorted(via):
            if area_of(m) in CORE_FORBIDDEN_AREAS:
                out.append(f"{core} reaches {area_of(m)}: {chain(m)}")
            for pkg in sorted(external.get(m, set()) & CORE_FORBIDDEN_PACKAGES):
                out.append(f"{core} reaches {pkg}: {chain(m)}")
    return out


@pytest.fixture(scope="module")
def imports() -> tuple[dict[str, dict[str, int]], dict[str, set[str]]]:
    return read_imports()


# --- the rules ------------------------------------------------------------------------------------------------

def test_no_cycle_between_areas(imports) -> None:
    graph = area_graph(imports[0])
    cycles = find_cycles(graph)
    assert not cycles, describe_cycles(graph, cycles)


def test_pure_cores_reach_no_store_web_or_cli(imports) -> None:
    internal, external = imports
    for core in PURE_CORES:
        assert core in internal, f"pure core {core} not found (renamed? update PURE_CORES)"
    assert core_violations(internal, external) == []


def test_web_and_cli_do_not_import_sqlalchemy(imports) -> None:
    """Queries live in each area's service functions; routes and commands call those. Files still allowed are
    listed in SQLALCHEMY_ALLOWED, which may only shrink."""
    _, external = imports
    offenders = {m for m, pkgs in external.items() if area_of(m) in ("web", "cli") and "sqlalchemy" in pkgs}
    assert offenders - SQLALCHEMY_ALLOWED == set(), "new sqlalchemy import in web/cli: move the query into a service"
    assert SQLALCHEMY_ALLOWED - offenders == set(), "no longer imports sqlalchemy: remove it from SQLALCHEMY_ALLOWED"


# --- the checker itself catches what it is for ----------------------------------------------------------------

def with_edge(internal: dict[str, dict[str, int]], src: str, dst: str) -> dict[str, dict[str, int]]:
    out = {m: dict(t) for m, t in internal.items()}
    out[src][dst] = 1
    return out


@pytest.mark.parametrize(("src", "dst", "areas"), [
    # the two imports that used to close a cycle (programme -> web -> programme; assets <-> programme)
    ("cleanheat.programme.publish", "cleanheat.web.formatting", {"programme", "web"}),
    ("cleanheat.assets.heat_source_import", "cleanheat.programme.model", {"assets", "programme"}),
])
def test_the_checker_finds_the_old_cycles(imports, src, dst, areas) -> None:
    internal = imports[0]
    assert dst not in internal[src]
    graph = area_graph(with_edge(internal, src, dst))
    cycles = find_cycles(graph)
    assert any(areas <= set(g) for g in cycles), describe_cycles(graph, cycles)
    assert src in describe_cycles(graph, cycles)


def test_the_checker_finds_a_pure_core_reaching_the_store(imports) -> None:
    internal, external = imports
    # an indirect route: indicators -> model -> store
    bad = with_edge(internal, "cleanheat.programme.model", "cleanheat.store.base")
    found = core_violations(bad, external)
    assert any(v.startswith("cleanheat.programme.indicators reaches store") for v in found), found
    ext = {m: set(p) for m, p in external.items()} | {"cleanheat.network.solver": {"numpy", "sqlalchemy"}}
    assert any(v.startswith("cleanheat.network.solver reaches sqlalchemy") for v in core_violations(internal, ext))


def test_the_checker_reads_relative_and_lazy_imports(tmp_path) -> None:
    pkg = tmp_path / "cleanheat"
    (pkg / "a").mkdir(parents=True)
    (pkg / "b").mkdir()
    for f in ("__init__.py", "a/__init__.py", "b/__init__.py", "b/y.py"):
        (pkg / f).write_text("")
    (pkg / "a" / "x.py").write_text("def f():\n    from ..b import y\n    import sqlalchemy.orm\n")
    (pkg / "b" / "z.py").write_text("from cleanheat.a import x\n")
    internal, external = read_imports(tmp_path)
    assert "cleanheat.b.y" in internal["cleanheat.a.x"]
    assert external["cleanheat.a.x"] == {"sqlalchemy"}
    assert find_cycles(area_graph(internal)) == [["a", "b"]]
