"""Heat tariffs and billing rules as dated data: ``data/<city>/tariffs.yaml`` and ``data/<city>/billing_rules.yaml``.

A :class:`Tariff` holds, for one customer class and a validity span, the area tariff [元/m² of the area basis per
season] and the two-part tariff (base [元/m²] + metered [元/GJ]), each value with its confidence tag and source.
:meth:`TariffTable.select` picks the one valid on a date. :class:`BillingRules` holds the settlement rules
(metered cap and refund, 报停 share and window, refusal cases, pro-rating, room-temperature shortfall refunds).
Money is ``Decimal`` (YAML text read exactly). Pure apart from the two ``read_*`` functions.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from pathlib import Path

import yaml

from cleanheat.errors import InputError, InputIssue, NotFoundError

CUSTOMER_CLASSES = ("energy_saving_dwelling", "ordinary_dwelling", "public_building", "commercial")
AREA_BASES = ("usable", "building")
CONFIDENCES = ("C", "S", "K", "D")
#: why a stop-heating (报停) application may be refused (billing_rules.yaml lists those in force)
REFUSAL_CASES = {
    "not_individually_piped": ("非分户供热", "not individually piped"),
    "valve_inside_dwelling": ("控制阀门在户内", "control valve inside the dwelling"),
    "in_warranty": ("建筑在保修期内", "building within its warranty period"),
    "first_floor": ("首层住户", "first-floor unit"),
    "top_floor": ("顶层住户", "top-floor unit"),
    "end_wall": ("冷山（山墙）住户", "end-wall unit"),
    "harms_neighbours": ("影响相邻住户", "would harm the neighbours"),
}


class TariffFileError(InputError):
    """A tariff or billing-rules file is malformed (every problem with its row and field)."""


class TariffNotFoundError(NotFoundError):
    """No tariff (or rule set) is valid for the class on the date."""


@dataclass(frozen=True)
class Rated:
    """A dated value with its confidence tag (C/S/K/D) and source."""

    value: Decimal
    confidence: str
    source: str


@dataclass(frozen=True)
class Tariff:
    """One customer class's tariff over [valid_from, valid_to): area [元/m²/season], base [元/m²/season],
    metered [元/GJ]."""

    id: str
    customer_class: str
    area_basis: str
    valid_from: date
    valid_to: date | None
    area_yuan_m2: Rated
    base_yuan_m2: Rated
    metered_yuan_gj: Rated
    source: str

    def valid_on(self, on: date) -> bool:
        return self.valid_from <= on and (self.valid_to is None or on < self.valid_to)

    @property
    def uncertain(self) -> bool:
        """Whether any value is background knowledge only (K): bills show it as unconfirmed."""
        return any(r.confidence == "K" for r in (self.area_yuan_m2, self.base_yuan_m2, self.metered_yuan_gj))


@dataclass(frozen=True)
class TariffTable:
    tariffs: tuple[Tariff, ...]
    classes: Mapping[str, tuple[str, str]]
    path: str = ""

    def select(self, customer_class: str, on: date) -> Tariff:
        """The tariff of ``customer_class`` valid on the local date ``on``."""
        found = [t for t in self.tariffs if t.customer_class == customer_class and t.valid_on(on)]
        if len(found) != 1:
            zh, en = self.classes.get(customer_class, (customer_class, customer_class))
            raise TariffNotFoundError(f"{on} 没有适用于“{zh}”的热价 / no single tariff for {en} on {on} "
                                      f"({len(found)} found in {self.path})")
        return found[0]


def _money(item: object, fld: str, issue) -> Rated | None:
    """A rated money value from ``{value, confidence, source}`` (value as text or number, >= 0)."""
    if not isinstance(item, Mapping):
        issue(fld, "须为 {value, confidence, source} (needs value, confidence and source)")
        return None
    try:
        value = Decimal(str(item.get("value")))
    except InvalidOperation:
        value = Decimal("NaN")
    if not value.is_finite() or value < 0:
        issue(fld, f"“{item.get('value')}”不是非负金额 (not a non-negative amount)")
        return None
    if item.get("confidence") not in CONFIDENCES or not item.get("source"):
        issue(fld, "须有 confidence (C/S/K/D) 与 source (needs a confidence and a source)")
    return Rated(value, str(item.get("confidence")), str(item.get("source", "")))


def _dates(row: Mapping, issue) -> tuple[date, date | None] | None:
    vf, vt = row.get("valid_from"), row.get("valid_to")
    if not isinstance(vf, date) or (vt is not None and (not isinstance(vt, date) or vt <= vf)):
        issue("valid_from", "valid_from / valid_to 须为日期且 valid_to 晚于 valid_from (dates, valid_to after)")
        return None
    return vf, vt


def _tariff(row: Mapping, issue) -> Tariff | None:
    if row.get("customer_class") not in CUSTOMER_CLASSES:
        issue("customer_class", f"未知的用户类别 {row.get('customer_class')!r} (unknown customer class)")
    if row.get("area_basis") not in AREA_BASES:
        issue("area_basis", f"area_basis 须为 {AREA_BASES} (area basis)")
    if not row.get("id") or not row.get("source"):
        issue("source", "须有 id 与来源 (needs an id and its source)")
    span = _dates(row, issue)
    money = {k: _money(row.get(k), k, issue) for k in ("area_yuan_m2", "base_yuan_m2", "metered_yuan_gj")}
    if span is None or None in money.values() or row.get("customer_class") not in CUSTOMER_CLASSES:
        return None
    return Tariff(str(row["id"]), row["customer_class"], str(row.get("area_basis")), span[0], span[1],
                  source=str(row.get("source", "")), **money)


def _overlaps(tariffs: list[Tariff]) -> list[str]:
    out = []
    for i, a in enumerate(tariffs):
        for b in tariffs[i + 1:]:
            if a.customer_class == b.customer_class and (b.valid_to is None or a.valid_from < b.valid_to) \
                    and (a.valid_to is None or b.valid_from < a.valid_to):
                out.append(f"{a.id} / {b.id}")
    return out


@lru_cache(maxsize=8)
def _read_tariffs(path: Path) -> TariffTable:
    raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    issues: list[InputIssue] = []
    tariffs = []
    for i, row in enumerate(raw.get("tariffs") or [], start=1):
        def issue(fld: str, msg: str, i: int = i) -> None:
            issues.append(InputIssue(msg, file=str(path), row=i, field=fld))

        t = _tariff(row if isinstance(row, Mapping) else {}, issue)
        if t is not None:
            tariffs.append(t)
    issues += [InputIssue(f"同一类别的有效期重叠 (overlapping validity): {o}", file=str(path))
               for o in _overlaps(tariffs)]
    if issues:
        raise TariffFileError(f"热价文件有误 / tariff file malformed: {path}", issues)
    classes = {k: (v.get("name_zh", k), v.get("name_en", k)) for k, v in (raw.get("customer_classes") or {}).items()}
    return TariffTable(tuple(tariffs), classes, str(path))


def read_tariffs(city_dir: Path) -> TariffTable:
    """The tariff table of a city (``Settings.city_dir``/tariffs.yaml), checked whole."""
    return _read_tariffs(Path(city_dir) / "tariffs.yaml")


# --- billing rules ------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class BillingRules:
    """One dated set of settlement rules (``billing_rules.yaml``); ``confidence`` {rule: C/S/K/D}."""

    metered_cap_at_area_fee: bool
    metered_refund_below_area_fee: bool
    stop_heating_fee_share: Decimal
    stop_heating_window_opens: tuple[int, int]
    stop_heating_window_closes: tuple[int, int]
    stop_heating_refused_for: tuple[str, ...]
    prorate_by_days: bool
    shortfall_min_room_temp_c: Decimal
    shortfall_fix_within_h: int
    shortfall_refund_from: str
    shortfall_refund_days_rounding: str
    id: str = ""
    source: str = ""
    confidence: Mapping[str, str] | None = None

    def uncertain(self, *rules: str) -> list[str]:
        """Those of ``rules`` that are background knowledge only (K)."""
        return [r for r in rules if (self.confidence or {}).get(r) == "K"]


def _month_day(v: object) -> tuple[int, int]:
    if not isinstance(v, Mapping):
        raise ValueError("needs {month, day}")
    md = int(v["month"]), int(v["day"])
    date(2001, *md)  # a real day of the year (ValueError otherwise)
    return md


#: rule -> how its value is read (ValueError / KeyError / TypeError: malformed)
_RULE_PARSERS = {
    "metered_cap_at_area_fee": lambda v: v if isinstance(v, bool) else _fail("true/false"),
    "metered_refund_below_area_fee": lambda v: v if isinstance(v, bool) else _fail("true/false"),
    "stop_heating_fee_share": lambda v: _share(v),
    "stop_heating_window_opens": _month_day,
    "stop_heating_window_closes": _month_day,
    "stop_heating_refused_for": lambda v: tuple(v) if set(v) <= set(REFUSAL_CASES) else _fail(
        f"cases among {sorted(REFUSAL_CASES)}"),
    "prorate_by_days": lambda v: v if isinstance(v, bool) else _fail("true/false"),
    "shortfall_min_room_temp_c": lambda v: Decimal(str(v)),
    "shortfall_fix_within_h": lambda v: int(v) if int(v) >= 0 else _fail(">= 0"),
    "shortfall_refund_from": lambda v: v if v in ("report", "deadline") else _fail("report | deadline"),
    "shortfall_refund_days_rounding": lambda v: v if v in ("ceiling", "floor") else _fail("ceiling | floor"),
}


def _fail(what: str):
    raise ValueError(f"expected {what}")


def _share(v: object) -> Decimal:
    d = Decimal(str(v))
    return d if Decimal(0) <= d <= Decimal(1) else _fail("a share in [0, 1]")


def _billing_rule_set(row: Mapping, issue) -> tuple[date, date | None, BillingRules] | None:
    span = _dates(row, issue)
    rules = row.get("rules") if isinstance(row.get("rules"), Mapping) else {}
    values, conf = {}, {}
    for name, parse in _RULE_PARSERS.items():
        item = rules.get(name)
        try:
            values[name] = parse(item["value"])
        except (KeyError, TypeError, ValueError, InvalidOperation) as exc:
            issue(f"rules.{name}", f"缺少或无效 (missing or invalid): {exc}")
            continue
        if item.get("confidence") not in CONFIDENCES or not item.get("source"):
            issue(f"rules.{name}", "须有 confidence (C/S/K/D) 与 source (needs a confidence and a source)")
        conf[name] = item.get("confidence")
    for name in sorted(set(rules) - set(_RULE_PARSERS)):
        issue(f"rules.{name}", "未知的规则 (unknown rule)")
    if not row.get("id") or not row.get("source"):
        issue("source", "须有 id 与来源 (needs an id and its source)")
    if span is None or len(values) != len(_RULE_PARSERS):
        return None
    return span[0], span[1], BillingRules(**values, id=str(row.get("id")), source=str(row.get("source", "")),
                                          confidence=conf)


@lru_cache(maxsize=8)
def _read_billing_rules(path: Path) -> tuple[tuple[date, date | None, BillingRules], ...]:
    raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    issues: list[InputIssue] = []
    out = []
    for i, row in enumerate(raw.get("rule_sets") or [], start=1):
        def issue(fld: str, msg: str, i: int = i) -> None:
            issues.append(InputIssue(msg, file=str(path), row=i, field=fld))

        found = _billing_rule_set(row if isinstance(row, Mapping) else {}, issue)
        if found is not None:
            out.append(found)
    if issues:
        raise TariffFileError(f"收费规则文件有误 / billing rules malformed: {path}", issues)
    return tuple(out)


def read_billing_rules(city_dir: Path, on: date) -> BillingRules:
    """The billing rules of a city (``Settings.city_dir``/billing_rules.yaml) valid on the local date ``on``."""
    path = Path(city_dir) / "billing_rules.yaml"
    for vf, vt, rules in _read_billing_rules(path):
        if vf <= on and (vt is None or on < vt):
            return rules
    raise TariffNotFoundError(f"{on} 无有效的收费规则 / no billing rule set valid on {on} ({path})")
