"""Use cases of the network registry: networks, stations, buildings, households, devices and their points.

Every function takes ``(session, actor, ...)``, checks the role and the organisation, writes the audit log for
every write and never commits. A heat company sees and edits only its own records; the programme office and
administrators see all (only administrators and heat companies write).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import BaseModel, ValidationError
from sqlalchemy import func, select
from sqlalchemy.orm import Session, selectinload

from cleanheat.assets.catalogue import PointSpec, read_point_catalogue
from cleanheat.assets.registry_errors import AssetImportError
from cleanheat.assets.schemas import (
    KIND_ORDER,
    KIND_SCHEMAS,
    DeviceIn,
    PointIn,
)
from cleanheat.assets.tables import Building, Device, HeatSource, Household, Network, Point, Station
from cleanheat.auth.roles import OrgKind, Role
from cleanheat.auth.service import Actor, audit
from cleanheat.auth.tables import Organisation, User
from cleanheat.config import REPO_ROOT
from cleanheat.errors import InputError, InputIssue, NotFoundError, PermissionDeniedError

READ_ROLES = (Role.HEAT_COMPANY, Role.PROGRAMME_OFFICE)
WRITE_ROLES = (Role.HEAT_COMPANY,)

MODELS = {"networks": Network, "stations": Station, "buildings": Building, "households": Household,
          "devices": Device}

#: the field of an input schema that refers to another kind, and that kind
REFERENCES = {
    "networks": {"heat_source_code": "heat_sources"},
    "stations": {"network_code": "networks"},
    "buildings": {"station_code": "stations"},
    "households": {"building_code": "buildings"},
    "devices": {"heat_source_code": "heat_sources", "network_code": "networks", "station_code": "stations",
                "building_code": "buildings", "household_code": "households"},
    "points": {"device_code": "devices"},
}
_REF_MODELS = MODELS | {"heat_sources": HeatSource}


def _scoped(q, model, actor: Actor):
    return q if actor.city_wide else q.where(model.org_id == actor.org_id)


def _default_data_dir() -> Path:
    return REPO_ROOT / "data"


# --- reading ---------------------------------------------------------------------------------------------

def list_records(session: Session, actor: Actor, kind: str, *, parent_id: int | None = None,
                 limit: int | None = None, offset: int = 0) -> list:
    """Records of one kind the actor may see (``parent_id``: of that station/building/... only)."""
    actor.require_roles(*READ_ROLES)
    model = MODELS[kind]
    q = _scoped(select(model), model, actor).order_by(model.code)
    if parent_id is not None:
        parent_col = {"stations": Station.network_id, "buildings": Building.station_id,
                      "households": Household.building_id, "devices": Device.station_id}.get(kind)
        if parent_col is not None:
            q = q.where(parent_col == parent_id)
    if kind == "devices":
        q = q.options(selectinload(Device.points))
    if limit:
        q = q.limit(limit).offset(offset)
    return list(session.scalars(q))


def count_records(session: Session, actor: Actor) -> dict[str, int]:
    actor.require_roles(*READ_ROLES)
    out = {}
    for kind, model in MODELS.items():
        out[kind] = session.scalar(_scoped(select(func.count()).select_from(model), model, actor)) or 0
    out["points"] = session.scalar(_scoped(select(func.count()).select_from(Point), Point, actor)) or 0
    return out


def get_record(session: Session, actor: Actor, kind: str, record_id: int):
    actor.require_roles(*READ_ROLES, Role.RESIDENT)
    row = session.get(MODELS[kind], record_id)
    if row is None or not actor.can_access_org(row.org_id):
        raise NotFoundError(f"{kind[:-1]} {record_id} not found")
    if actor.role == Role.RESIDENT:
        raise PermissionDeniedError("residents see their own household only")
    return row


def station_tree(session: Session, actor: Actor, station_id: int) -> dict:
    """A station with its buildings, their households and every device below it."""
    station = get_record(session, actor, "stations", station_id)
    buildings = list(session.scalars(select(Building).where(Building.station_id == station.id)
                                     .order_by(Building.code)))
    b_ids = [b.id for b in buildings]
    households = list(session.scalars(select(Household).where(Household.building_id.in_(b_ids))
                                      .order_by(Household.code))) if b_ids else []
    dev_q = select(Device).options(selectinload(Device.points)).where(
        station_devices(station.id)).order_by(Device.code)
    return {"station": station, "buildings": buildings, "households": households,
            "devices": list(session.scalars(dev_q))}


def station_devices(station_id: int):
    """The condition on ``Device`` for every device below a station: its own (the controller), its buildings'
    (heat meters) and their households' (room sensors)."""
    b_ids = select(Building.id).where(Building.station_id == station_id)
    h_ids = select(Household.id).where(Household.building_id.in_(b_ids))
    return (Device.station_id == station_id) | Device.building_id.in_(b_ids) | Device.household_id.in_(h_ids)


def household_of_user(session: Session, actor: Actor) -> Household | None:
    """The household a resident is linked to (the /me page)."""
    if actor.user_id is None:
        return None
    return session.scalar(select(Household).where(Household.resident_user_id == actor.user_id))


def household_of_user_with_building(session: Session, actor: Actor
                                    ) -> tuple[Household, Building | None, Organisation | None] | None:
    """The resident's household with its building and heat company, in one query (the /me page)."""
    if actor.user_id is None:
        return None
    row = session.execute(select(Household, Building, Organisation)
                          .outerjoin(Building, Building.id == Household.building_id)
                          .outerjoin(Organisation, Organisation.id == Household.org_id)
                          .where(Household.resident_user_id == actor.user_id)).first()
    return None if row is None else (row[0], row[1], row[2])


def households_of_residents(session: Session, actor: Actor) -> dict[int, str]:
    """User id -> the code of the household the resident is linked to (administrators)."""
    actor.require_roles(Role.ADMIN)
    return dict(session.execute(select(Household.resident_user_id, Household.code)
                                .where(Household.resident_user_id.is_not(None))).all())


def link_resident(session: Session, actor: Actor, username: str, household_code: str) -> Household | None:
    """An administrator links a resident's account to a household (its /me page), or unlinks it when
    ``household_code`` is empty. The household must belong to the company whose residents organisation the user
    is in; one household per resident. Audited with the household before and after."""
    actor.require_roles(Role.ADMIN)
    user = session.scalar(select(User).where(User.username == username))
    if user is None:
        raise NotFoundError(f"user {username!r} not found")
    if user.role != Role.RESIDENT.value:
        raise InputError("only a resident is linked to a household",
                         [InputIssue("只有居民账户可以关联住户", field="household",
                                     message_en="only a resident's account is linked to a household")])
    current = session.scalar(select(Household).where(Household.resident_user_id == user.id))
    code = household_code.strip()
    target = None
    if code:
        target = session.scalar(select(Household).where(Household.code == code))
        if target is None:
            raise InputError(f"unknown household {code!r}", [InputIssue(
                f"未知的住户编码“{code}”", field="household", message_en=f"unknown household code {code!r}")])
        owner = session.get(Organisation, target.org_id)
        try:
            _resident_user_id(session, username, owner, target)
        except LookupError as exc:
            raise InputError(str(exc), [InputIssue(f"不能关联：{exc}", field="household",
                                                   message_en=f"cannot link: {exc}")]) from exc
    if current is not None and (target is None or current.id != target.id):
        current.resident_user_id = None
        session.flush()
    if target is not None:
        target.resident_user_id = user.id
    session.flush()
    audit(session, actor, "link" if target is not None else "unlink", "user", user.id,
          {"username": username, "changes": {"household": [current.code if current else None,
                                                           target.code if target else None]}},
          summary=f"居民 {username} 关联住户：{current.code if current else '—'} → {target.code if target else '—'}")
    return target


# --- writing ---------------------------------------------------------------------------------------------

def _owner_org(session: Session, actor: Actor, org_code: str | None) -> Organisation:
    """The heat company a new or changed record belongs to."""
    actor.require_roles(*WRITE_ROLES)
    if actor.role == Role.HEAT_COMPANY:
        if org_code not in (None, "", actor.org_code):
            raise PermissionDeniedError(f"a heat company may only register its own assets (not {org_code!r})")
        org = session.get(Organisation, actor.org_id)
    else:
        if not org_code:
            raise InputError("org_code is required", [InputIssue("which heat company owns this?", field="org_code")])
        org = session.scalar(select(Organisation).where(Organisation.code == org_code))
        if org is None:
            raise InputError(f"unknown organisation {org_code!r}",
                             [InputIssue(f"unknown organisation {org_code!r}", field="org_code")])
    if org is None or org.kind != OrgKind.HEAT_COMPANY.value:
        raise InputError("assets belong to heat companies",
                         [InputIssue(f"organisation {org_code or actor.org_code} is not a heat company",
                                     field="org_code")])
    return org


class _Resolver:
    """Finds referenced records by code, only within the owning organisation."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.cache: dict[tuple[str, str], object] = {}

    def get(self, kind: str, code: str, org_id: int):
        key = (kind, code)
        if key not in self.cache:
            model = _REF_MODELS[kind]
            self.cache[key] = self.session.scalar(select(model).where(model.code == code))
        row = self.cache[key]
        if row is None or row.org_id != org_id:  # another organisation's record: as if it did not exist
            raise LookupError(f"unknown {kind[:-1].replace('_', ' ')} {code!r}")
        return row

    def remember(self, kind: str, row) -> None:
        self.cache[(kind, row.code)] = row


def _apply(row, data: dict, skip: Iterable[str]) -> None:
    for k, v in data.items():
        if k not in skip:
            setattr(row, k, v)


def residents_owner(session: Session, residents_org: Organisation) -> Organisation | None:
    """The heat company a residents organisation belongs to.

    Belonging is expressed by the code: a residents organisation's code is its heat company's code, a hyphen
    and a suffix (``htjt-residents``, ``htjt-daoli-2``). When several heat-company codes are prefixes (``ht``,
    ``ht-x``), the longest one owns it."""
    if residents_org.kind != OrgKind.RESIDENTS.value:
        return None
    companies = session.scalars(select(Organisation).where(Organisation.kind == OrgKind.HEAT_COMPANY.value))
    owners = [c for c in companies if residents_org.code.startswith(c.code + "-")]
    return max(owners, key=lambda c: len(c.code), default=None)


def _resident_user_id(session: Session, username: str, owner: Organisation, household: Household | None) -> int:
    """The user who may see ``household`` on /me: a resident of a residents organisation belonging to the
    household's company, linked to no other household."""
    user = session.scalar(select(User).where(User.username == username))
    if user is None or user.role != Role.RESIDENT.value:
        raise LookupError(f"unknown resident user {username!r}")
    user_org = session.get(Organisation, user.org_id)
    org_owner = residents_owner(session, user_org) if user_org is not None else None
    if org_owner is None or org_owner.id != owner.id:
        raise LookupError(f"resident user {username!r} is not a resident of {owner.code} (their organisation "
                          f"must be a residents organisation coded {owner.code}-…)")
    other = session.scalar(select(Household).where(Household.resident_user_id == user.id))
    if other is not None and (household is None or other.id != household.id):
        raise LookupError(f"resident user {username!r} is already linked to household {other.code!r}")
    return user.id


def _upsert(session: Session, actor: Actor, kind: str, item: BaseModel, resolver: _Resolver,
            catalogue: dict[str, PointSpec]):
    if kind == "points":
        return _upsert_point(session, actor, item, resolver, catalogue)
    org = _owner_org(session, actor, item.org_code)
    model = MODELS[kind]
    row = session.scalar(select(model).where(model.code == item.code))
    if row is not None and row.org_id != org.id:
        # say only that the code is taken: not who holds it, nor that another organisation does
        raise LookupError(f"编码 {item.code!r} 已被占用 / code {item.code!r} is taken")
    data = item.model_dump(exclude={"org_code"})
    refs = {}
    for fld, ref_kind in REFERENCES[kind].items():
        code = data.pop(fld, None)
        refs[fld.replace("_code", "_id")] = resolver.get(ref_kind, code, org.id).id if code else None
    resident = data.pop("resident_username", None)
    resident_id = _resident_user_id(session, resident, org, row) if resident else None
    action = "update" if row is not None else "create"
    if row is None:
        row = model(org_id=org.id)
        session.add(row)
    _apply(row, data | refs, skip=())
    if kind == "households":
        row.resident_user_id = resident_id
    session.flush()
    resolver.remember(kind, row)
    audit(session, actor, action, kind[:-1], row.id, {"code": row.code})
    return row


def _upsert_point(session: Session, actor: Actor, item: PointIn, resolver: _Resolver,
                  catalogue: dict[str, PointSpec]) -> Point:
    dev_code = item.device_code
    device = resolver.cache.get(("devices", dev_code)) or session.scalar(select(Device).where(Device.code == dev_code))
    if device is None:
        raise LookupError(f"unknown device {dev_code!r}")
    resolver.remember("devices", device)
    actor.require_roles(*WRITE_ROLES)
    actor.require_org(device.org_id)
    spec = catalogue.get(item.key)
    data = item.model_dump(exclude={"device_code"})
    if spec is None:
        missing = [k for k in ("quantity", "unit", "min_value", "max_value") if data.get(k) is None]
        if missing:
            raise LookupError(f"point key {item.key!r} is not in the catalogue: give {', '.join(missing)}")
    else:
        defaults = {"name_zh": spec.name_zh, "quantity": spec.quantity, "unit": spec.unit,
                    "min_value": spec.min_value, "max_value": spec.max_value, "cumulative": spec.cumulative}
        for k, v in defaults.items():
            if data.get(k) is None:
                data[k] = v
        if "stuck_after_s" not in item.model_fields_set:
            data["stuck_after_s"] = spec.stuck_after_s
    data["name_zh"] = data.get("name_zh") or item.key
    if data["min_value"] >= data["max_value"]:
        raise LookupError("min_value must be below max_value")
    row = session.scalar(select(Point).where(Point.device_id == device.id, Point.key == item.key))
    action = "update" if row is not None else "create"
    if row is None:
        row = Point(device_id=device.id, org_id=device.org_id, key=item.key)
        session.add(row)
    _apply(row, data, skip=("key",))
    session.flush()
    audit(session, actor, action, "point", row.id, {"device": device.code, "key": item.key})
    return row


def upsert(session: Session, actor: Actor, kind: str, item: BaseModel, *, data_dir: Path | None = None):
    """Create or update one record (by code; points by device and key)."""
    try:
        return _upsert(session, actor, kind, item, _Resolver(session),
                       read_point_catalogue(data_dir or _default_data_dir()))
    except LookupError as exc:
        raise InputError(str(exc.args[0]), [InputIssue(str(exc.args[0]))]) from exc


def upsert_device_with_points(session: Session, actor: Actor, device: DeviceIn, points: list[PointIn | str],
                              *, data_dir: Path | None = None) -> Device:
    """A device and its points in one call (points given as keys take the catalogue defaults)."""
    dev = upsert(session, actor, "devices", device, data_dir=data_dir)
    for p in points:
        pin = PointIn(device_code=dev.code, key=p) if isinstance(p, str) else p
        upsert(session, actor, "points", pin, data_dir=data_dir)
    session.refresh(dev)
    return dev


# --- import ----------------------------------------------------------------------------------------------

@dataclass
class ImportSummary:
    created: dict[str, int] = field(default_factory=dict)
    updated: dict[str, int] = field(default_factory=dict)

    def text(self) -> str:
        parts = [f"{k}: +{self.created.get(k, 0)} / ~{self.updated.get(k, 0)}"
                 for k in KIND_ORDER if self.created.get(k) or self.updated.get(k)]
        return "; ".join(parts) or "nothing"


@dataclass(frozen=True)
class SheetRow:
    """One row of an import: its sheet (kind), row number in the file, cells by column name."""

    kind: str
    row: int
    cells: dict


def _clean(cells: dict) -> dict:
    out = {}
    for k, v in cells.items():
        if k is None:
            continue
        k = str(k).strip()
        if isinstance(v, str):
            v = v.strip()
        if v in ("", None):
            continue
        out[k] = v
    return out


def import_rows(session: Session, actor: Actor, rows: list[SheetRow], *, file: str = "",
                data_dir: Path | None = None) -> ImportSummary:
    """Import registry rows all-or-nothing: every problem of every row is reported, and nothing is written
    unless there is none. Records are matched by code (points by device code and key)."""
    actor.require_roles(*WRITE_ROLES)
    issues: list[InputIssue] = []
    parsed: list[tuple[SheetRow, BaseModel]] = []
    seen: dict[tuple[str, str], int] = {}
    for r in rows:
        if r.kind not in KIND_SCHEMAS:
            issues.append(InputIssue(f"unknown sheet {r.kind!r} (expected one of {', '.join(KIND_ORDER)})",
                                     file=file, sheet=r.kind))
            continue
        try:
            item = KIND_SCHEMAS[r.kind].model_validate(_clean(r.cells))
        except ValidationError as exc:
            for err in exc.errors():
                col = ".".join(str(x) for x in err["loc"]) or None
                issues.append(InputIssue(err["msg"], file=file, sheet=r.kind, row=r.row, column=col))
            continue
        key = (r.kind, f"{item.device_code}/{item.key}" if r.kind == "points" else item.code)
        if key in seen:
            issues.append(InputIssue(f"duplicate {key[1]!r} (also row {seen[key]})", file=file, sheet=r.kind,
                                     row=r.row, column="code"))
            continue
        seen[key] = r.row
        parsed.append((r, item))
    if issues:
        raise AssetImportError(f"{file or 'import'}: {len(issues)} problem(s); nothing was imported", issues)
    parsed.sort(key=lambda ri: KIND_ORDER.index(ri[0].kind))
    resolver = _Resolver(session)
    catalogue = read_point_catalogue(data_dir or _default_data_dir())
    summary = ImportSummary()
    nested = session.begin_nested()  # the import is undone on any problem, whatever the caller does next
    try:
        for r, item in parsed:
            model = MODELS.get(r.kind)
            if model is not None:
                exists = session.scalar(select(model.id).where(model.code == item.code)) is not None
            else:
                exists = session.scalar(select(Point.id).join(Device).where(
                    Device.code == item.device_code, Point.key == item.key)) is not None
            try:
                _upsert(session, actor, r.kind, item, resolver, catalogue)
            except LookupError as exc:
                issues.append(InputIssue(str(exc.args[0]), file=file, sheet=r.kind, row=r.row))
                continue
            except (PermissionDeniedError, InputError) as exc:
                issues.append(InputIssue(getattr(exc, "summary", str(exc)), file=file, sheet=r.kind, row=r.row,
                                         column="org_code"))
                continue
            bucket = summary.updated if exists else summary.created
            bucket[r.kind] = bucket.get(r.kind, 0) + 1
        if issues:
            raise AssetImportError(f"{file or 'import'}: {len(issues)} problem(s); nothing was imported", issues)
        audit(session, actor, "import", "assets", file, {"created": summary.created, "updated": summary.updated},
              summary=f"导入资产 {file}: {summary.text()}")
    except BaseException:
        nested.rollback()
        raise
    nested.commit()
    return summary


def export_rows(session: Session, actor: Actor) -> dict[str, list[dict]]:
    """Every record the actor may see, as import rows (a round trip through import changes nothing)."""
    actor.require_roles(*READ_ROLES)
    orgs = {o.id: o.code for o in session.scalars(select(Organisation))}
    codes: dict[str, dict[int, str]] = {}
    for kind, model in _REF_MODELS.items():
        codes[kind] = dict(session.execute(_scoped(select(model.id, model.code), model, actor)).all())
    users = dict(session.execute(select(User.id, User.username)).all())
    out: dict[str, list[dict]] = {}
    for kind in KIND_ORDER:
        schema = KIND_SCHEMAS[kind]
        rows = []
        if kind == "points":
            q = _scoped(select(Point, Device.code).join(Device, Point.device_id == Device.id), Point, actor)
            for p, dev_code in session.execute(q.order_by(Device.code, Point.key)):
                rows.append({f: dev_code if f == "device_code" else getattr(p, f) for f in schema.model_fields})
        else:
            for rec in list_records(session, actor, kind):
                row = {}
                for f in schema.model_fields:
                    if f == "org_code":
                        row[f] = orgs.get(rec.org_id)
                    elif f == "resident_username":
                        row[f] = users.get(rec.resident_user_id)
                    elif f in REFERENCES[kind]:
                        ref_id = getattr(rec, f.replace("_code", "_id"))
                        row[f] = codes[REFERENCES[kind][f]].get(ref_id) if ref_id else None
                    else:
                        row[f] = getattr(rec, f)
                rows.append(row)
        out[kind] = rows
    return out
