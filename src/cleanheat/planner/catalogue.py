"""The option catalogue and building classes as immutable data, read from YAML with located errors.

Every number is a :class:`Quantity` carrying its value, the stated uncertainty range, confidence and source.
Scenarios change values through :func:`with_overrides` (which returns a new catalogue; nothing is mutated).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from cleanheat.errors import InputIssue
from cleanheat.planner.errors import CatalogueError
from cleanheat.planner.yamlloc import YamlDoc, parse_yaml

AREA_TYPES = ("urban", "county_fringe", "rural")
CONFIDENCE = ("C", "S", "K", "D")
ROLES = ("conversion", "status_quo")
CARRIERS = ("coal", "gas", "electricity", "biomass", "heat")
POLLUTANTS = ("pm", "so2", "nox")

#: Numeric fields of an option that scenarios may override (``cop_scale`` scales the air-source COP curve).
OPTION_FIELDS = (
    "efficiency", "cop", "capex_yuan_m2", "capex_yuan_household", "network_extension_yuan_km", "om_yuan_m2",
    "om_yuan_household", "lifetime_years", "subsidy_yuan_m2", "subsidy_yuan_household", "grid_load_factor",
    "pm_g_per_gj", "so2_g_per_gj", "nox_g_per_gj",
)
FUEL_FIELDS = ("price_yuan_per_unit", "gj_per_unit", "co2_kg_per_gj", "pm_g_per_gj", "so2_g_per_gj", "nox_g_per_gj")


@dataclass(frozen=True)
class Quantity:
    """A number with its stated uncertainty (``low``..``high``), confidence tag and source."""

    value: float
    low: float
    high: float
    confidence: str
    source: str
    note: str = ""

    @classmethod
    def zero(cls) -> Quantity:
        return cls(0.0, 0.0, 0.0, "D", "not applicable")

    def with_value(self, value: float, source: str = "scenario override") -> Quantity:
        return replace(self, value=float(value), low=min(self.low, value), high=max(self.high, value),
                       source=f"{source} (catalogue: {self.value:g}, {self.source})")

    def as_dict(self) -> dict:
        d = {"value": self.value, "low": self.low, "high": self.high, "confidence": self.confidence,
             "source": self.source}
        if self.note:
            d["note"] = self.note
        return d


@dataclass(frozen=True)
class Fuel:
    code: str
    name_zh: str
    name_en: str
    unit: str
    carrier: str
    price_yuan_per_unit: Quantity
    gj_per_unit: Quantity
    co2_kg_per_gj: Quantity
    pm_g_per_gj: Quantity = field(default_factory=Quantity.zero)
    so2_g_per_gj: Quantity = field(default_factory=Quantity.zero)
    nox_g_per_gj: Quantity = field(default_factory=Quantity.zero)

    @property
    def price_yuan_per_gj(self) -> float:
        """Price per GJ of fuel [元/GJ]."""
        return self.price_yuan_per_unit.value / self.gj_per_unit.value


@dataclass(frozen=True)
class CopCurve:
    """Heat-pump COP as a function of outdoor temperature (piecewise linear, flat beyond the ends)."""

    temps_c: tuple[float, ...]
    cops: tuple[float, ...]
    scale: Quantity
    confidence: str
    source: str

    def cop(self, temp_c: np.ndarray | float) -> np.ndarray:
        """COP at ``temp_c`` [°C]; never below 1 (the backup resistance heater takes over)."""
        raw = np.interp(np.asarray(temp_c, dtype=float), self.temps_c, self.cops) * self.scale.value
        return np.maximum(raw, 1.0)


@dataclass(frozen=True)
class Availability:
    area_types: frozenset[str]
    requires_gas: bool = False
    max_network_distance_km: float | None = None
    requires_resource: str | None = None


@dataclass(frozen=True)
class Option:
    code: str
    name_zh: str
    name_en: str
    role: str
    programme_technology: str
    clean: bool
    fuel: str
    availability: Availability
    lifetime_years: Quantity
    efficiency: Quantity | None = None
    cop: Quantity | None = None
    cop_curve: CopCurve | None = None
    capex_yuan_m2: Quantity = field(default_factory=Quantity.zero)
    capex_yuan_household: Quantity = field(default_factory=Quantity.zero)
    network_extension_yuan_km: Quantity = field(default_factory=Quantity.zero)
    om_yuan_m2: Quantity = field(default_factory=Quantity.zero)
    om_yuan_household: Quantity = field(default_factory=Quantity.zero)
    subsidy_yuan_m2: Quantity = field(default_factory=Quantity.zero)
    subsidy_yuan_household: Quantity = field(default_factory=Quantity.zero)
    grid_load_factor: Quantity = field(default_factory=Quantity.zero)
    pm_g_per_gj: Quantity = field(default_factory=Quantity.zero)
    so2_g_per_gj: Quantity = field(default_factory=Quantity.zero)
    nox_g_per_gj: Quantity = field(default_factory=Quantity.zero)
    group: str = ""  # programme technology group (from the plan's technologies.yaml), filled by the loader

    @property
    def is_status_quo(self) -> bool:
        return self.role == "status_quo"

    @property
    def is_heat_pump(self) -> bool:
        return self.cop is not None or self.cop_curve is not None

    def quantities(self) -> dict[str, Quantity]:
        """Every numeric field that applies to this option (for display and reports)."""
        out = {}
        for name in ("efficiency", "cop") + OPTION_FIELDS[2:]:
            q = getattr(self, name)
            if q is not None and not (q.source == "not applicable" and q.value == 0):
                out[name] = q
        if self.cop_curve is not None:
            out["cop_scale"] = self.cop_curve.scale
        return out


@dataclass(frozen=True)
class BuildingClass:
    code: str
    name_zh: str
    name_en: str
    q_design_w_m2: Quantity


@dataclass(frozen=True)
class Catalogue:
    version: str
    valid_from: str
    valid_to: str
    finance: dict[str, Quantity]
    fuels: dict[str, Fuel]
    options: tuple[Option, ...]
    buildings: tuple[BuildingClass, ...]
    source_file: str = ""

    @property
    def codes(self) -> tuple[str, ...]:
        return tuple(o.code for o in self.options)

    @property
    def building_codes(self) -> tuple[str, ...]:
        return tuple(b.code for b in self.buildings)

    def option(self, code: str) -> Option:
        for o in self.options:
            if o.code == code:
                return o
        raise KeyError(code)

    def index(self, code: str) -> int:
        return self.codes.index(code)

    @property
    def resources(self) -> frozenset[str]:
        """Local resources that some option requires (e.g. geothermal, waste_heat, biomass_chp)."""
        return frozenset(o.availability.requires_resource for o in self.options
                         if o.availability.requires_resource)

    def fuel_of(self, option: Option) -> Fuel:
        return self.fuels[option.fuel]


# --- reading ------------------------------------------------------------------------------------------------

def _number(x: Any) -> Any:
    """YAML 1.1 reads ``3.0e6`` (no sign in the exponent) as text; accept such numeric strings."""
    if isinstance(x, str):
        try:
            return float(x)
        except ValueError:
            return x
    return x


class _Reader:
    """Collects every problem of a document with its location; raises once at the end."""

    def __init__(self, doc: YamlDoc) -> None:
        self.doc = doc
        self.issues: list[InputIssue] = []

    def err(self, path: tuple, zh: str, en: str) -> None:
        self.issues.append(self.doc.issue(zh, path, en))

    def text(self, obj: dict, key: str, path: tuple, required: bool = True) -> str:
        v = obj.get(key) if isinstance(obj, dict) else None
        if v is None or (isinstance(v, str) and not v.strip()):
            if required:
                self.err(path + (key,), f"缺少字段 {key}", f"missing field {key}")
            return ""
        return str(v)

    def quantity(self, obj: dict, key: str, path: tuple, required: bool = True, minimum: float = 0.0,
                 positive: bool = False) -> Quantity | None:
        p = path + (key,)
        v = obj.get(key) if isinstance(obj, dict) else None
        if v is None:
            if required:
                self.err(p, f"缺少字段 {key}", f"missing field {key}")
            return None
        if not isinstance(v, dict):
            self.err(p, f"{key} 须为 {{value, low, high, confidence, source}}",
                     f"{key} must be a mapping {{value, low, high, confidence, source}}")
            return None
        nums = {}
        for k in ("value", "low", "high"):
            x = _number(v.get(k))
            if isinstance(x, bool) or not isinstance(x, (int, float)) or not math.isfinite(x):
                self.err(p + (k,), f"{key}.{k} 须为数值", f"{key}.{k} must be a number")
                return None
            nums[k] = float(x)
        if nums["value"] < minimum or (positive and nums["value"] <= 0):
            self.err(p + ("value",), f"{key} 不能为负数或零" if positive else f"{key} 不能为负数",
                     f"{key} must be positive" if positive else f"{key} must not be negative")
        if not nums["low"] <= nums["value"] <= nums["high"]:
            self.err(p, f"{key}: 须满足 low ≤ value ≤ high", f"{key}: low <= value <= high does not hold")
        conf = v.get("confidence")
        if conf not in CONFIDENCE:
            self.err(p + ("confidence",), f"{key}.confidence 须为 C/S/K/D 之一",
                     f"{key}.confidence must be one of C, S, K, D")
        if not str(v.get("source") or "").strip():
            self.err(p + ("source",), f"{key} 缺少来源 source", f"{key} has no source")
        unknown = set(v) - {"value", "low", "high", "confidence", "source", "note"}
        if unknown:
            self.err(p, f"{key} 含未知字段 {sorted(unknown)}", f"{key} has unknown fields {sorted(unknown)}")
        return Quantity(nums["value"], nums["low"], nums["high"], str(conf), str(v.get("source", "")),
                        str(v.get("note", "")))


def _read_fuels(r: _Reader, raw: Any) -> dict[str, Fuel]:
    fuels: dict[str, Fuel] = {}
    if not isinstance(raw, dict) or not raw:
        r.err(("fuels",), "缺少 fuels", "missing fuels")
        return fuels
    for code, f in raw.items():
        p = ("fuels", code)
        if not isinstance(f, dict):
            r.err(p, "燃料须为映射", "a fuel must be a mapping")
            continue
        carrier = r.text(f, "carrier", p)
        if carrier and carrier not in CARRIERS:
            r.err(p + ("carrier",), f"未知能源类型 {carrier!r}（可选 {', '.join(CARRIERS)}）",
                  f"unknown carrier {carrier!r} (one of {', '.join(CARRIERS)})")
        q = {k: r.quantity(f, k, p, required=k in ("price_yuan_per_unit", "gj_per_unit", "co2_kg_per_gj"),
                           positive=k == "gj_per_unit")
             for k in FUEL_FIELDS}
        unknown = set(f) - {"name_zh", "name_en", "unit", "carrier", *FUEL_FIELDS}
        if unknown:
            r.err(p, f"未知字段 {sorted(unknown)}", f"unknown fields {sorted(unknown)}")
        if any(q[k] is None for k in ("price_yuan_per_unit", "gj_per_unit", "co2_kg_per_gj")):
            continue
        fuels[code] = Fuel(code, r.text(f, "name_zh", p), str(f.get("name_en", "")), r.text(f, "unit", p), carrier,
                           q["price_yuan_per_unit"], q["gj_per_unit"], q["co2_kg_per_gj"],
                           *(q[k] or Quantity.zero() for k in ("pm_g_per_gj", "so2_g_per_gj", "nox_g_per_gj")))
    return fuels


_OPTION_KEYS = {"code", "name_zh", "name_en", "role", "programme_technology", "clean", "fuel", "availability",
                "cop_curve", *OPTION_FIELDS}


def _read_option(r: _Reader, o: Any, i: int, fuels: dict[str, Fuel], technologies: dict | None) -> Option | None:
    p = ("options", i)
    if not isinstance(o, dict):
        r.err(p, "方式须为映射", "an option must be a mapping")
        return None
    n0 = len(r.issues)
    code = r.text(o, "code", p)
    unknown = set(o) - _OPTION_KEYS
    if unknown:
        r.err(p, f"{code}: 未知字段 {sorted(unknown)}", f"{code}: unknown fields {sorted(unknown)}")
    role = r.text(o, "role", p)
    if role and role not in ROLES:
        r.err(p + ("role",), f"role 须为 {ROLES}", f"role must be one of {ROLES}")
    fuel = r.text(o, "fuel", p)
    if fuel and fuel not in fuels:
        r.err(p + ("fuel",), f"未知燃料 {fuel!r}", f"unknown fuel {fuel!r}")
    clean = o.get("clean")
    if not isinstance(clean, bool):
        r.err(p + ("clean",), "clean 须为 true/false", "clean must be true or false")
    tech = r.text(o, "programme_technology", p)
    group = ""
    if technologies is not None and tech:
        spec = technologies.get(tech)
        if spec is None:
            r.err(p + ("programme_technology",), f"方案技术目录中没有 {tech!r}",
                  f"{tech!r} is not a technology of the plan (technologies.yaml)")
        else:
            group = spec.group
            if isinstance(clean, bool) and clean != spec.counts_as_clean:
                r.err(p + ("clean",), f"clean={clean} 与方案技术 {tech} 的 clean_rule={spec.clean_rule} 不一致",
                      f"clean={clean} disagrees with clean_rule={spec.clean_rule} of {tech}")
    q = {k: r.quantity(o, k, p, required=k == "lifetime_years",
                       positive=k in ("lifetime_years", "efficiency", "cop", "grid_load_factor"))
         for k in OPTION_FIELDS}
    curve = None
    if "cop_curve" in o:
        c = o["cop_curve"]
        cp = p + ("cop_curve",)
        pts = c.get("points") if isinstance(c, dict) else None
        ok = (isinstance(pts, list) and len(pts) >= 2
              and all(isinstance(x, list) and len(x) == 2 and all(isinstance(v, (int, float)) for v in x)
                      for x in pts))
        if not ok:
            r.err(cp + ("points",), "cop_curve.points 须为 [[温度, COP], ...]（至少两点）",
                  "cop_curve.points must be [[temp_c, cop], ...] (two points or more)")
        else:
            temps = [float(x[0]) for x in pts]
            cops = [float(x[1]) for x in pts]
            if temps != sorted(temps) or len(set(temps)) != len(temps):
                r.err(cp + ("points",), "温度须严格递增", "temperatures must increase strictly")
            if min(cops) <= 0:
                r.err(cp + ("points",), "COP 须为正数", "COP must be positive")
            scale = r.quantity(c, "scale", cp, positive=True)
            if not str(c.get("source") or "").strip():
                r.err(cp, "cop_curve 缺少来源 source", "cop_curve has no source")
            if scale is not None:
                curve = CopCurve(tuple(temps), tuple(cops), scale, str(c.get("confidence", "K")), str(c["source"]))
    n_eff = sum(x is not None for x in (q["efficiency"], q["cop"], curve))
    if n_eff != 1 and len(r.issues) == n0:
        r.err(p, f"{code}: 须且只须给出 efficiency、cop 或 cop_curve 之一",
              f"{code}: give exactly one of efficiency, cop, cop_curve")
    av = o.get("availability")
    ap = p + ("availability",)
    availability = None
    if not isinstance(av, dict):
        r.err(ap, "缺少 availability", "missing availability")
    else:
        types = av.get("area_types")
        if not isinstance(types, list) or not types or any(t not in AREA_TYPES for t in types):
            r.err(ap + ("area_types",), f"area_types 须为 {AREA_TYPES} 的子集",
                  f"area_types must be a subset of {AREA_TYPES}")
            types = []
        unknown = set(av) - {"area_types", "requires_gas", "max_network_distance_km", "requires_resource"}
        if unknown:
            r.err(ap, f"未知字段 {sorted(unknown)}", f"unknown fields {sorted(unknown)}")
        dist = av.get("max_network_distance_km")
        if dist is not None and (not isinstance(dist, (int, float)) or dist < 0):
            r.err(ap + ("max_network_distance_km",), "须为非负数", "must be a non-negative number")
            dist = None
        availability = Availability(frozenset(types), bool(av.get("requires_gas", False)),
                                    float(dist) if dist is not None else None, av.get("requires_resource"))
    if len(r.issues) > n0 or availability is None:
        return None
    kwargs = {k: v for k, v in q.items() if v is not None}
    return Option(code=code, name_zh=r.text(o, "name_zh", p), name_en=str(o.get("name_en", "")), role=role,
                  programme_technology=tech, clean=bool(clean), fuel=fuel, availability=availability,
                  cop_curve=curve, group=group, **kwargs)


def parse_catalogue(text: str, file: str, buildings_text: str, buildings_file: str,
                    technologies: dict | None = None) -> Catalogue:
    """Parse the catalogue and building classes; every problem is reported at once with file, line and field.

    ``technologies`` (code → :class:`cleanheat.programme.model.TechnologySpec`) checks that each option's
    programme technology exists and that its ``clean`` flag agrees with the plan's clean rule.
    """
    doc = parse_yaml(text, file, CatalogueError)
    r = _Reader(doc)
    data = doc.data if isinstance(doc.data, dict) else {}
    finance = {}
    for k in ("discount_rate", "household_discount_rate"):
        q = r.quantity(data.get("finance") or {}, k, ("finance",))
        if q is not None:
            if q.value >= 1:
                r.err(("finance", k), f"{k} 须小于 1（如 0.06）", f"{k} must be a fraction below 1 (e.g. 0.06)")
            finance[k] = q
    fuels = _read_fuels(r, data.get("fuels"))
    options = []
    raw_opts = data.get("options")
    if not isinstance(raw_opts, list) or not raw_opts:
        r.err(("options",), "缺少 options 列表", "missing the options list")
        raw_opts = []
    for i, o in enumerate(raw_opts):
        opt = _read_option(r, o, i, fuels, technologies)
        if opt is not None:
            options.append(opt)
    codes = [o.code for o in options]
    dupes = sorted({c for c in codes if codes.count(c) > 1})
    if dupes:
        r.err(("options",), f"重复的方式代码 {dupes}", f"duplicate option codes {dupes}")
    if not any(o.is_status_quo for o in options) and not r.issues:
        r.err(("options",), "至少需要一个 status_quo 方式", "at least one status_quo option is needed")

    bdoc = parse_yaml(buildings_text, buildings_file, CatalogueError)
    br = _Reader(bdoc)
    buildings = []
    raw_b = bdoc.data.get("classes") if isinstance(bdoc.data, dict) else None
    if not isinstance(raw_b, list) or not raw_b:
        br.err(("classes",), "缺少 classes 列表", "missing the classes list")
        raw_b = []
    for i, b in enumerate(raw_b):
        p = ("classes", i)
        if not isinstance(b, dict):
            br.err(p, "须为映射", "must be a mapping")
            continue
        code = br.text(b, "code", p)
        q = br.quantity(b, "q_design_w_m2", p, positive=True)
        if code and q is not None:
            buildings.append(BuildingClass(code, br.text(b, "name_zh", p), str(b.get("name_en", "")), q))
    issues = r.issues + br.issues
    if issues:
        raise CatalogueError(f"{file}: the option catalogue has {len(issues)} problem(s)", issues)
    return Catalogue(version=str(data.get("version", "")), valid_from=str(data.get("valid_from", "")),
                     valid_to=str(data.get("valid_to", "")), finance=finance, fuels=fuels, options=tuple(options),
                     buildings=tuple(buildings), source_file=file)


def read_catalogue(directory: Path, technologies: dict | None = None) -> Catalogue:
    """Read ``catalogue.yaml`` and ``buildings.yaml`` from ``directory`` (normally ``data/planner``)."""
    cat = directory / "catalogue.yaml"
    bld = directory / "buildings.yaml"
    for p in (cat, bld):
        if not p.exists():
            raise CatalogueError(f"file missing: {p}",
                                 [InputIssue("文件不存在", file=str(p), message_en="file missing")])
    return parse_catalogue(cat.read_text(encoding="utf-8"), str(cat), bld.read_text(encoding="utf-8"), str(bld),
                           technologies)


# --- overrides ----------------------------------------------------------------------------------------------

def _bound(q: Quantity, spec: float | str) -> float:
    """A number, or ``"low"``/``"high"`` for the catalogue's stated bound."""
    if spec == "low":
        return q.low
    if spec == "high":
        return q.high
    return float(spec)


def with_overrides(cat: Catalogue, *, options: dict[str, dict[str, Any]] | None = None,
                   fuels: dict[str, dict[str, Any]] | None = None) -> Catalogue:
    """A new catalogue with values replaced. Values are numbers or ``"low"``/``"high"``; ``*_scale`` fields
    multiply (``price_scale`` for a fuel's price, ``cop_scale`` for a heat pump's COP or COP curve,
    ``capex_scale`` for all capital costs of an option).
    The caller validates names (see ``scenario.py``); unknown names raise KeyError here."""
    new_fuels = dict(cat.fuels)
    for code, changes in (fuels or {}).items():
        f = new_fuels[code]
        upd = {}
        for k, v in changes.items():
            if k == "price_scale":
                q = upd.get("price_yuan_per_unit", f.price_yuan_per_unit)
                upd["price_yuan_per_unit"] = q.with_value(q.value * float(v), f"scenario ×{float(v):g}")
            else:
                q = getattr(f, k)
                upd[k] = q.with_value(_bound(q, v))
        new_fuels[code] = replace(f, **upd)
    new_opts = []
    for o in cat.options:
        changes = (options or {}).get(o.code, {})
        upd: dict[str, Any] = {}
        for k, v in changes.items():
            if k == "cop_scale":
                if o.cop_curve is not None:
                    s = o.cop_curve.scale
                    upd["cop_curve"] = replace(o.cop_curve, scale=s.with_value(_bound(s, v) if isinstance(v, str)
                                                                               else s.value * float(v)))
                elif o.cop is not None:
                    upd["cop"] = o.cop.with_value(_bound(o.cop, v) if isinstance(v, str) else o.cop.value * float(v))
                else:
                    raise KeyError(f"{o.code} is not a heat pump (cop_scale)")
            elif k == "capex_scale":
                for name in ("capex_yuan_m2", "capex_yuan_household", "network_extension_yuan_km"):
                    q = getattr(o, name)
                    upd[name] = q.with_value(q.value * float(v), f"scenario ×{float(v):g}")
            else:
                q = getattr(o, k)
                if q is None:
                    raise KeyError(f"{o.code} has no {k}")
                upd[k] = q.with_value(_bound(q, v))
        new_opts.append(replace(o, **upd) if upd else o)
    unknown = set(options or {}) - set(cat.codes)
    if unknown:
        raise KeyError(f"unknown options {sorted(unknown)}")
    return replace(cat, fuels=new_fuels, options=tuple(new_opts))
