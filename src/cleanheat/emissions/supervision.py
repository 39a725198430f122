"""Supervision rules as data (``data/emissions/supervision.yaml``): which registered heat sources must be
monitored, what else they need (ultra-low registration, a bag filter) and the per-pollutant compliance threshold.

Pure apart from :func:`read_supervision`. :func:`requirement_for` gives the combined requirement of a source on a
date with the rules that produced it; :func:`threshold_for` the share of valid hours each pollutant must reach.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from pathlib import Path

import yaml

from cleanheat.emissions.errors import LimitTableError
from cleanheat.emissions.hj212.codes import emissions_data_dir
from cleanheat.emissions.limits import FactsAt, SourceFacts, SourceProfile, facts_at
from cleanheat.errors import InputIssue

REQUIREMENTS = ("monitoring", "ultra_low", "bag_filter")
MATCH_KEYS = ("fuel", "kind", "capacity_t_h", "area_types", "commissioned")
#: the five evidence states of a source in a window (docs/evidence.md)
EVIDENCE_STATES = ("compliant", "non_compliant", "no_monitoring_point", "insufficient_data", "not_required")
#: evidence that lets a source's area count as verified clean
EVIDENCED = frozenset({"compliant", "not_required"})


@dataclass(frozen=True)
class SupervisionRule:
    id: str
    clause: str
    match: dict
    requires: frozenset[str]
    source: str
    confidence: str

    def describe(self) -> str:
        """The conditions in words, e.g. "fuel coal; kind boiler; capacity ≥ 35 t/h"."""
        ops = {"ge": "≥", "lt": "<", "from": "from", "before": "before"}
        parts = []
        for k, v in self.match.items():
            if isinstance(v, dict):
                unit = " t/h" if k == "capacity_t_h" else ""
                parts.append(f"{k} " + ", ".join(f"{ops.get(o, o)} {x}{unit}" for o, x in v.items()))
            elif isinstance(v, list):
                parts.append(f"{k} {'/'.join(map(str, v))}")
            else:
                parts.append(f"{k} {v}")
        return "; ".join(parts) or "all sources"

    def applies(self, facts: SourceFacts, on: date, area_type: str, at: FactsAt | None = None) -> bool:
        m = self.match
        at = at or facts_at(facts, on)
        if "fuel" in m and at.fuel not in m["fuel"]:
            return False
        if "kind" in m and m["kind"] != ("chp" if facts.is_chp else "boiler"):
            return False
        cap = facts.capacity_steam_t_h
        bounds = m.get("capacity_t_h") or {}
        if "ge" in bounds and cap is not None and cap < bounds["ge"]:
            return False
        if "lt" in bounds and (cap is None or cap >= bounds["lt"]):
            return False
        if "area_types" in m and area_type not in m["area_types"]:
            return False
        since = m.get("commissioned") or {}
        c = facts.commissioned
        if "from" in since and (c is None or c < since["from"]):
            return False
        return "before" not in since or (c is not None and c < since["before"])


@dataclass(frozen=True)
class Threshold:
    id: str
    match: dict
    value: float
    source: str

    def applies(self, profile: SourceProfile | None) -> bool:
        if profile is None:
            return not self.match
        return all(getattr(profile, k) == v for k, v in self.match.items())


@dataclass(frozen=True)
class Requirement:
    """What the rules require of one source on a date (``rules``: the ids of the rules that apply)."""

    monitoring: bool = False
    ultra_low: bool = False
    bag_filter: bool = False
    rules: tuple[str, ...] = ()
    clauses: tuple[str, ...] = ()


@dataclass(frozen=True)
class Supervision:
    rules: tuple[SupervisionRule, ...]
    thresholds: tuple[Threshold, ...]
    path: str = ""

    def requirement_for(self, facts: SourceFacts, on: date, area_type: str, at: FactsAt | None = None
                        ) -> Requirement:
        at = at or facts_at(facts, on)
        hits = [r for r in self.rules if r.applies(facts, on, area_type, at)]
        req = {k: any(k in r.requires for r in hits) for k in REQUIREMENTS}
        return Requirement(**req, rules=tuple(r.id for r in hits), clauses=tuple(r.clause for r in hits))

    def threshold_for(self, profile: SourceProfile | None) -> Threshold:
        for t in self.thresholds:
            if t.applies(profile):
                return t
        raise LimitTableError(f"no compliance threshold matches {profile}",
                              [InputIssue("no default threshold row", file=self.path)])


def supervision_path(data_dir: Path) -> Path:
    """The supervision rules under ``data_dir`` (``Settings.data_dir``)."""
    return emissions_data_dir(data_dir) / "supervision.yaml"


@lru_cache(maxsize=8)
def read_supervision(path: Path) -> Supervision:
    """Read and validate the rules; every problem is reported with its row and field."""
    raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    issues: list[InputIssue] = []

    def issue(row: int, fld: str, msg: str) -> None:
        issues.append(InputIssue(msg, file=str(path), row=row, field=fld))

    rules = []
    for i, row in enumerate(raw.get("rules") or [], start=1):
        match = row.get("match") or {}
        unknown = set(match) - set(MATCH_KEYS)
        if unknown:
            issue(i, "match", f"unknown conditions {sorted(unknown)}; known: {MATCH_KEYS}")
        requires = frozenset(k for k, v in (row.get("requires") or {}).items() if v)
        if not requires or not requires <= set(REQUIREMENTS):
            issue(i, "requires", f"requires must name some of {REQUIREMENTS}")
        for fld in ("id", "clause", "source"):
            if not row.get(fld):
                issue(i, fld, f"every rule needs its {fld}")
        rules.append(SupervisionRule(str(row.get("id")), str(row.get("clause", "")), match, requires,
                                     str(row.get("source", "")), str(row.get("confidence", "K"))))
    thresholds = []
    for i, row in enumerate(raw.get("compliance_thresholds") or [], start=1):
        value = row.get("value")
        if not isinstance(value, int | float) or not 0 < value <= 1:
            issue(i, "compliance_thresholds.value", f"threshold {value!r} must be a share in (0, 1]")
            continue
        if not row.get("source"):
            issue(i, "compliance_thresholds.source", "every threshold needs its source")
        thresholds.append(Threshold(str(row.get("id")), dict(row.get("match") or {}), float(value),
                                    str(row.get("source", ""))))
    if not any(not t.match for t in thresholds):
        issue(0, "compliance_thresholds", "a default row (match: {}) is required")
    if issues:
        raise LimitTableError(f"supervision rules {path} are malformed", issues)
    return Supervision(tuple(rules), tuple(thresholds), str(path))
