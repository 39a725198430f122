"""Every YAML data file parses, and none holds the trace of an unquoted comma in a flow mapping.

`{name_en: Waste heat (industrial, sewage), ...}` parses without error into name_en "Waste heat (industrial" and a
stray key "sewage)" with no value; this test finds such keys anywhere under data/.
"""

from pathlib import Path

import pytest
import yaml

DATA = Path(__file__).resolve().parents[1] / "data"
FILES = sorted(DATA.rglob("*.yaml"))


def _stray_keys(node, path=""):
    if isinstance(node, dict):
        for k, v in node.items():
            if isinstance(k, str) and v is None and (k.count(")") > k.count("(") or k.count("）") > k.count("（")):
                yield f"{path}.{k}"
            yield from _stray_keys(v, f"{path}.{k}")
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _stray_keys(v, f"{path}[{i}]")


@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(DATA)))
def test_yaml_has_no_stray_keys(path):
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert list(_stray_keys(doc)) == []


def test_there_are_data_files():
    assert len(FILES) >= 10
