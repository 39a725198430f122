"""Roles and organisation kinds, and the rules that tie them together."""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    ADMIN = "admin"
    PROGRAMME_OFFICE = "programme_office"
    REPORTING_UNIT = "reporting_unit"
    HEAT_COMPANY = "heat_company"
    ECOLOGY_BUREAU = "ecology_bureau"
    RESIDENT = "resident"


class OrgKind(StrEnum):
    PLATFORM = "platform"  # the operators of the installation (admins)
    PROGRAMME_OFFICE = "programme_office"  # 清洁取暖工作协调小组办公室 (at the DRC)
    DISTRICT = "district"  # 区政府
    COUNTY = "county"  # 县（市）政府
    HEAT_COMPANY = "heat_company"  # 供热企业
    ECOLOGY_BUREAU = "ecology_bureau"  # 生态环境局
    RESIDENTS = "residents"  # households, grouped under the company or community that serves them


ROLE_LABELS = {
    Role.ADMIN: ("系统管理员", "Administrator"),
    Role.PROGRAMME_OFFICE: ("清洁取暖办公室", "Programme office"),
    Role.REPORTING_UNIT: ("填报单位", "Reporting unit"),
    Role.HEAT_COMPANY: ("供热企业", "Heat company"),
    Role.ECOLOGY_BUREAU: ("生态环境局", "Ecology and environment bureau"),
    Role.RESIDENT: ("居民用户", "Resident"),
}

ORG_KIND_LABELS = {
    OrgKind.PLATFORM: ("平台运营", "Platform"),
    OrgKind.PROGRAMME_OFFICE: ("清洁取暖办公室", "Programme office"),
    OrgKind.DISTRICT: ("区政府", "District government"),
    OrgKind.COUNTY: ("县（市）政府", "County government"),
    OrgKind.HEAT_COMPANY: ("供热企业", "Heat company"),
    OrgKind.ECOLOGY_BUREAU: ("生态环境局", "Ecology and environment bureau"),
    OrgKind.RESIDENTS: ("居民", "Residents"),
}

#: Roles a user of an organisation of each kind may hold.
ALLOWED_ROLES: dict[OrgKind, frozenset[Role]] = {
    OrgKind.PLATFORM: frozenset({Role.ADMIN}),
    OrgKind.PROGRAMME_OFFICE: frozenset({Role.PROGRAMME_OFFICE, Role.ADMIN}),
    OrgKind.DISTRICT: frozenset({Role.REPORTING_UNIT}),
    OrgKind.COUNTY: frozenset({Role.REPORTING_UNIT}),
    OrgKind.HEAT_COMPANY: frozenset({Role.HEAT_COMPANY, Role.REPORTING_UNIT}),
    OrgKind.ECOLOGY_BUREAU: frozenset({Role.ECOLOGY_BUREAU}),
    OrgKind.RESIDENTS: frozenset({Role.RESIDENT}),
}

#: Roles that see every organisation's data (city-wide oversight).
CITY_WIDE_ROLES = frozenset({Role.ADMIN, Role.PROGRAMME_OFFICE})

#: Organisation kinds that submit quarterly progress reports to the programme office.
REPORTING_ORG_KINDS = frozenset({OrgKind.DISTRICT, OrgKind.COUNTY, OrgKind.HEAT_COMPANY})
