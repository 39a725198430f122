"""Vocabularies of the heat-source registry with their Chinese and English labels."""

from __future__ import annotations

SOURCE_KINDS = {
    "chp": ("热电联产机组", "CHP unit"),
    "coal_boiler": ("燃煤锅炉", "Coal boiler"),
    "gas_boiler": ("燃气锅炉", "Gas boiler"),
    "gas_chp": ("燃气热电联产", "Gas CHP"),
    "biomass_boiler": ("生物质锅炉", "Biomass boiler"),
    "biomass_chp": ("生物质热电联产", "Biomass CHP"),
    "electric_boiler": ("电锅炉", "Electric boiler"),
    "heat_pump": ("热泵", "Heat pump"),
    "waste_heat": ("余热", "Waste heat"),
    "geothermal": ("地热", "Geothermal"),
}
FUELS = {
    "coal": ("燃煤", "Coal"),
    "gas": ("天然气", "Natural gas"),
    "biomass": ("生物质", "Biomass"),
    "electricity": ("电", "Electricity"),
    "waste_heat": ("余热", "Waste heat"),
    "geothermal": ("地热", "Geothermal"),
}
EMISSION_CLASSES = {
    "ordinary": ("一般排放限值", "Ordinary limits"),
    "special": ("特别排放限值", "Special limits"),
    "ultra_low": ("超低排放", "Ultra-low emission"),
}
VINTAGES = {"existing": ("在用", "Existing"), "new": ("新建", "New")}
#: event -> (label zh, label en, resulting status; None: unchanged)
EVENTS = {
    "commissioned": ("投运", "Commissioned", "in_service"),
    "ultra_low_retrofitted": ("超低排放改造", "Ultra-low retrofit", "ultra_low"),
    "converted_gas": ("煤改气", "Converted to gas", "converted_gas"),
    "converted_electric": ("煤改电", "Converted to electricity", "converted_electric"),
    "converted_biomass": ("生物质改造", "Converted to biomass", "converted_biomass"),
    "connected_network": ("并网（关停并入管网）", "Connected to the network", "connected_network"),
    #: 扩建 (capacity added): the status stays what it was
    "expanded": ("扩建", "Expanded", None),
    "demolished": ("拆除", "Demolished", "demolished"),
}
STATUSES = {
    "in_service": ("在用", "In service"),
    "ultra_low": ("超低排放", "Ultra-low"),
    "converted_gas": ("已煤改气", "Converted to gas"),
    "converted_electric": ("已煤改电", "Converted to electricity"),
    "converted_biomass": ("已改生物质", "Converted to biomass"),
    "connected_network": ("已并网", "Connected to the network"),
    "demolished": ("已拆除", "Demolished"),
}
EVENT_NEW_FUEL = {"converted_gas": "gas", "converted_electric": "electricity", "converted_biomass": "biomass"}
AREA_TYPE_ALIASES = {
    "城市城区": "urban", "城区": "urban", "urban": "urban",
    "县城和城乡结合部": "county_fringe", "县城": "county_fringe", "城乡结合部": "county_fringe",
    "county_fringe": "county_fringe",
    "农村": "rural", "rural": "rural",
}


def lookup(vocab: dict, value: str) -> str | None:
    """The code for ``value`` given as a code or as its Chinese or English label."""
    v = str(value).strip()
    if v in vocab:
        return v
    for code, labels in vocab.items():
        if v in labels[:2] or v.lower() == str(labels[1]).lower():
            return code
    return None
