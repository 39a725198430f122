"""Page language: Chinese first, English available (cookie ``lang``)."""

from __future__ import annotations

from collections.abc import Callable

LANGUAGES = ("zh", "en")


def pick_language(cookie_value: str | None, default: str = "zh") -> str:
    return cookie_value if cookie_value in LANGUAGES else default


def translator(lang: str) -> Callable[[str, str], str]:
    """``T(zh, en)`` returns the text in the page language."""

    def T(zh: str, en: str = "") -> str:  # reads well in templates
        return en if (lang == "en" and en) else zh

    return T


#: Units of measure as the plan and the forms write them (Chinese) -> English, for ``M(unit)`` in templates.
MEASURE_UNITS = {
    "万m²": "10⁴ m²", "台": "units", "蒸吨": "t/h", "个": "", "公里": "km", "户": "households", "项": "projects",
    "元": "yuan", "万元": "10⁴ yuan", "亿元": "10⁸ yuan", "元/m²": "yuan/m²", "元/GJ": "yuan/GJ",
    "元/户·季": "yuan/household·season", "元/季": "yuan/season", "%": "%",
}

#: English names of the plan's baseline facts (data/harbin/baseline.yaml names them in Chinese), by key.
BASELINE_FACT_EN = {
    "coal": "Coal", "gas": "Natural gas", "electric": "Electricity", "renewable": "Renewables",
    "waste_heat_ground_source": "Industrial waste heat, ground source etc.",
    "total_km": "District-heating network, total length", "primary_km": "Primary network length",
    "secondary_km": "Secondary network length", "urban_km": "Network in the urban area (approx.)",
    "county_km": "Network in counties (approx.)",
}


def unit_translator(lang: str) -> Callable[[str | None], str]:
    """``M(unit)``: a unit of measure in the page language (unknown units are shown as they are)."""

    def M(unit: str | None) -> str:  # reads well in templates
        if not unit:
            return ""
        return MEASURE_UNITS.get(unit, unit) if lang == "en" else unit

    return M


STATUS_LABELS = {
    "met": ("达标", "Met"),
    "lagging": ("滞后", "Behind"),
    "missed": ("未达标", "Missed"),
    "no_data": ("无数据", "No data"),
}

#: Quarterly report workflow states.
REPORT_STATUS_LABELS = {
    "submitted": ("待审核", "Awaiting review"),
    "accepted": ("已接受", "Accepted"),
    "returned": ("已退回", "Returned"),
    "superseded": ("已被替代", "Superseded"),
}
#: Registry states of stations and devices.
ASSET_STATUS_LABELS = {
    "in_service": ("在用", "In service"),
    "planned": ("规划", "Planned"),
    "retired": ("停用", "Retired"),
    "active": ("在用", "Active"),
}
EMITTER_LABELS = {"radiator": ("散热器", "Radiators"), "floor": ("地暖", "Floor heating")}


def vocabularies() -> dict[str, dict[str, tuple[str, ...]]]:
    """Code -> (Chinese, English) labels by vocabulary name, for ``L(vocabulary, code)`` in templates."""
    from cleanheat.assets import vocab
    from cleanheat.programme.model import AREA_TYPE_LABELS

    return {
        "report_status": REPORT_STATUS_LABELS, "rate_status": STATUS_LABELS, "asset_status": ASSET_STATUS_LABELS,
        "emitter": EMITTER_LABELS, "source_kind": vocab.SOURCE_KINDS, "fuel": vocab.FUELS,
        "emission_class": vocab.EMISSION_CLASSES, "source_status": vocab.STATUSES, "event": vocab.EVENTS,
        "vintage": vocab.VINTAGES, "area_type": AREA_TYPE_LABELS, "point": POINT_LABELS,
    }


def labeller(lang: str) -> Callable[[str, str | None], str]:
    """``L(vocabulary, code)``: the code's label in the page language (the code itself when unknown)."""
    vocabs = vocabularies()
    i = 1 if lang == "en" else 0

    def L(vocabulary: str, code: str | None) -> str:
        if code is None or code == "":
            return "—"
        labels = vocabs[vocabulary].get(code)
        return labels[i] if labels and labels[i] else str(code)

    return L

#: Measurement points by key (the device catalogue holds Chinese names only).
POINT_LABELS = {
    "p_supply_temp_c": ("一次供水温度", "Primary supply temperature"),
    "p_return_temp_c": ("一次回水温度", "Primary return temperature"),
    "s_supply_temp_c": ("二次供水温度", "Secondary supply temperature"),
    "s_return_temp_c": ("二次回水温度", "Secondary return temperature"),
    "p_flow_kg_s": ("一次流量", "Primary flow"),
    "s_flow_kg_s": ("二次流量", "Secondary flow"),
    "s_supply_pressure_kpa": ("二次供水压力", "Secondary supply pressure"),
    "s_return_pressure_kpa": ("二次回水压力", "Secondary return pressure"),
    "heat_power_kw": ("热功率", "Heat power"),
    "heat_energy_gj": ("累计热量", "Heat energy (cumulative)"),
    "heat_energy_kwh": ("累计热量", "Heat energy (cumulative)"),
    "supply_temp_c": ("供水温度", "Supply temperature"),
    "return_temp_c": ("回水温度", "Return temperature"),
    "flow_kg_s": ("流量", "Flow"),
    "room_temp_c": ("室温", "Room temperature"),
    "outdoor_temp_c": ("室外温度", "Outdoor temperature"),
}
