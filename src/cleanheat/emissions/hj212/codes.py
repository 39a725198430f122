"""Code tables of HJ 212 as data: command codes by edition and flue-gas factor codes with their 2005 codes.

The tables live in ``data/emissions/commands.yaml`` and ``data/emissions/factors.yaml`` (each with its source and
confidence); these readers turn them into immutable lookups. Reading is the only I/O here.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import yaml

from cleanheat.errors import InputError, InputIssue

COMMAND_KINDS = ("upload", "request", "answer", "notice", "command")


@dataclass(frozen=True)
class Command:
    cn: str
    kind: str
    editions: frozenset[str]
    name_zh: str
    name_en: str


@dataclass(frozen=True)
class Factor:
    code: str
    name_zh: str
    name_en: str
    unit: str
    amount_unit: str | None = None
    old_code: str | None = None
    limited: bool = False


@dataclass(frozen=True)
class CodeTables:
    commands: dict[str, Command]
    factors: dict[str, Factor]

    @property
    def old_to_new(self) -> dict[str, str]:
        """HJ/T 212-2005 factor code -> HJ 212-2017 code."""
        return {f.old_code: f.code for f in self.factors.values() if f.old_code}

    def command(self, cn: str) -> Command | None:
        return self.commands.get(cn)


def emissions_data_dir(data_dir: Path) -> Path:
    """The emissions rules under ``data_dir`` (``Settings.data_dir``, passed in: never a default)."""
    return Path(data_dir) / "emissions"


@lru_cache(maxsize=8)
def read_code_tables(data_dir: Path) -> CodeTables:
    """Read (and cache) the command and factor tables under ``data_dir/emissions``."""
    base = emissions_data_dir(data_dir)
    cmd_path, fac_path = base / "commands.yaml", base / "factors.yaml"
    issues: list[InputIssue] = []
    commands: dict[str, Command] = {}
    for i, row in enumerate(yaml.safe_load(cmd_path.read_text(encoding="utf-8"))["commands"], start=1):
        cn = str(row.get("cn", ""))
        if len(cn) != 4 or not cn.isdigit():
            issues.append(InputIssue(f"cn {cn!r} is not 4 digits", file=str(cmd_path), row=i, field="cn"))
            continue
        if row.get("kind") not in COMMAND_KINDS:
            issues.append(InputIssue(f"kind {row.get('kind')!r} not one of {COMMAND_KINDS}", file=str(cmd_path),
                                     row=i, field="kind"))
            continue
        commands[cn] = Command(cn, row["kind"], frozenset(str(e) for e in row["editions"]), row["name_zh"],
                               row["name_en"])
    factors: dict[str, Factor] = {}
    for i, row in enumerate(yaml.safe_load(fac_path.read_text(encoding="utf-8"))["factors"], start=1):
        try:
            factors[row["code"]] = Factor(code=row["code"], name_zh=row["name_zh"], name_en=row["name_en"],
                                          unit=str(row["unit"]), amount_unit=row.get("amount_unit"),
                                          old_code=str(row["old_code"]) if row.get("old_code") else None,
                                          limited=bool(row.get("limited", False)))
        except KeyError as exc:
            issues.append(InputIssue(f"missing {exc.args[0]}", file=str(fac_path), row=i, field=exc.args[0]))
    if issues:
        raise InputError("HJ 212 code tables are malformed", issues)
    return CodeTables(commands=commands, factors=factors)
