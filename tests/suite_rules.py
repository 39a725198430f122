"""Rules of the whole test suite, loaded by tests/conftest.py (``pytest_plugins``).

* Real-browser tests carry the ``e2e`` marker, so ``-m "not e2e"`` (``make test-fast``) leaves them out: every test
  under ``tests/e2e/`` and every test that uses the ``browser`` fixture. (A ``pytestmark`` in a conftest.py has no
  effect: pytest reads it from test modules only.)
* Under ``CI=true`` a skipped test fails: a skip there means a missing dependency (poppler, a browser, a data
  file) that the project's own install steps must provide, and a green run must not hide it. An ``xfail`` stays.
* ``xdist_group`` works again under ``--dist loadgroup``: pytest-xdist 3.8 marks a grouped test by appending
  ``@<group>`` to ``item._nodeid``, which pytest 9 no longer reads (the node id lives in ``item._id``), so every
  group was silently spread over all workers (the authorisation matrix built its PostgreSQL world on each).
  ``tests/test_suite_rules.py`` checks that the suffix is there.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

E2E_DIR = Path(__file__).resolve().parent / "e2e"
BROWSER_FIXTURES = {"browser", "page"}


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in {"1", "true", "yes"}


def is_browser_test(item: pytest.Item) -> bool:
    path = Path(str(item.path)).resolve()
    return path.is_relative_to(E2E_DIR) or bool(BROWSER_FIXTURES & set(getattr(item, "fixturenames", ())))


@pytest.hookimpl(tryfirst=True)  # before the -m selection (pytest's own hook of the same name) reads the markers
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if is_browser_test(item) and item.get_closest_marker("e2e") is None:
            item.add_marker(pytest.mark.e2e)


def group_suffix(item: pytest.Item) -> str:
    """``@<group>`` for a test marked ``xdist_group`` (the names joined as pytest-xdist does), else ''."""
    names = {str(m.args[0] if m.args else m.kwargs.get("name", "default")) for m in item.iter_markers("xdist_group")}
    return "@" + "_".join(sorted(names)) if names else ""


class LoadGroupIds:
    """On an xdist worker with ``--dist loadgroup``: the group suffix the scheduler reads, on the node id pytest 9
    keeps (``_id``). Nothing when pytest-xdist's own suffix took effect. (A plugin object: this module's own
    ``pytest_collection_modifyitems`` runs first, this one last.)"""

    @pytest.hookimpl(trylast=True)
    def pytest_collection_modifyitems(self, config: pytest.Config, items: list[pytest.Item]) -> None:
        if not getattr(config.option, "loadgroup", False):
            return
        from _pytest.nodeid import coerce_node_id

        for item in items:
            suffix = group_suffix(item)
            if suffix and not item.nodeid.endswith(suffix) and hasattr(item, "_id"):
                item._id = coerce_node_id(item.nodeid + suffix)


def pytest_configure(config: pytest.Config) -> None:
    config.pluginmanager.register(LoadGroupIds(), "cleanheat-load-group-ids")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    outcome = yield
    rep = outcome.get_result()
    if rep.skipped and not hasattr(rep, "wasxfail") and in_ci():
        reason = rep.longrepr[2] if isinstance(rep.longrepr, tuple) else str(rep.longrepr)
        rep.outcome = "failed"
        rep.longrepr = f"skipped under CI=true, which counts as a failure (install what is missing): {reason}"
