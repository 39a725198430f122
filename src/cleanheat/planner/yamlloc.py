"""YAML with line numbers: every mapping key and sequence item is located, so errors can name the line."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import yaml

from cleanheat.errors import InputError, InputIssue

Path_ = tuple[str, ...]


@dataclass(frozen=True)
class YamlDoc:
    """Parsed YAML plus the line (1-based) of every key path, e.g. ``("options", "3", "capex_yuan_m2")``."""

    data: Any
    file: str
    lines: dict[Path_, int] = field(default_factory=dict)

    def line(self, path: tuple) -> int | None:
        """The line of ``path`` or of its nearest located ancestor."""
        p = tuple(str(x) for x in path)
        while p:
            if p in self.lines:
                return self.lines[p]
            p = p[:-1]
        return self.lines.get(())

    def issue(self, message: str, path: tuple, message_en: str | None = None) -> InputIssue:
        return InputIssue(message, file=self.file, row=self.line(path),
                          field=".".join(str(x) for x in path) or None, message_en=message_en)


def _walk(node: yaml.Node, path: Path_, out: dict[Path_, int]) -> None:
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            p = path + (str(key.value),)
            out[p] = key.start_mark.line + 1
            _walk(value, p, out)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            p = path + (str(i),)
            out[p] = item.start_mark.line + 1
            _walk(item, p, out)


def parse_yaml(text: str, file: str, error: type[InputError] = InputError) -> YamlDoc:
    """Parse ``text``; a syntax error raises ``error`` naming the line and column."""
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        issue = InputIssue(f"YAML 语法错误: {getattr(exc, 'problem', exc)}", file=file,
                           row=mark.line + 1 if mark else None,
                           column=str(mark.column + 1) if mark else None,
                           message_en=f"YAML syntax error: {getattr(exc, 'problem', exc)}")
        raise error(f"{file}: not valid YAML", [issue]) from exc
    lines: dict[Path_, int] = {(): 1}
    if node is not None:
        _walk(node, (), lines)
    return YamlDoc(data if data is not None else {}, file, lines)
