"""Billing pages: the heat company's runs (start, exceptions, figures, approve, statements, credit / debit notes),
the resident's statements (/me/bill) and the programme office's metering by unit (/billing/metering).

Reads come from :mod:`cleanheat.billing.views`, writes from :mod:`cleanheat.billing.service` (audited there); a
run is a background job (``billing.run``) since a company's season may take minutes."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import RedirectResponse

from cleanheat.auth.roles import Role
from cleanheat.auth.service import Actor
from cleanheat.billing import views
from cleanheat.billing.background import submit_run
from cleanheat.errors import ConflictError, InputError
from cleanheat.web.deps import (
    AppSettings,
    CsrfChecked,
    DbSession,
    flash,
    language,
    render,
    require_roles,
    unit_namer,
)
from cleanheat.web.job_pages import submitted
from cleanheat.web.nav import NavItem
from cleanheat.web.params import Id, PageNo

router = APIRouter()

VIEW = (Role.HEAT_COMPANY, Role.PROGRAMME_OFFICE)
METERING = (Role.PROGRAMME_OFFICE, Role.REPORTING_UNIT)
NAV = [
    NavItem("/billing", "计量收费", "Billing", order=330, roles=frozenset({Role.HEAT_COMPANY})),
    NavItem("/billing/metering", "供热计量", "Heat metering", order=335, roles=frozenset(METERING)),
    NavItem("/me/bill", "我的账单", "My bill", order=955, roles=frozenset({Role.RESIDENT}), secondary=True),
]

ViewPage = Annotated[Actor, Depends(require_roles(*VIEW, page=True))]
CompanyPage = Annotated[Actor, Depends(require_roles(Role.HEAT_COMPANY, page=True))]
MeteringPage = Annotated[Actor, Depends(require_roles(*METERING, page=True))]
ResidentPage = Annotated[Actor, Depends(require_roles(Role.RESIDENT, page=True))]

PAGE_SIZE = 50
SEASON_RE = r"^\d{4}-\d{4}$"


def _labels() -> dict:
    return {"class_labels": views.CLASS_LABELS, "mode_labels": views.MODE_LABELS, "kind_labels": views.RUN_KIND_LABELS,
            "state_labels": views.STATE_LABELS, "statement_labels": views.STATEMENT_KIND_LABELS,
            "line_labels": views.LINE_LABELS, "exception_labels": views.EXCEPTION_LABELS,
            "method_labels": views.METHOD_LABELS, "label": views.label,
            "uncertain_label": views.uncertain_label}


def _dec(v) -> Decimal | None:
    """An amount stored as text in a run's summary (exact) as a Decimal (None when absent)."""
    return None if v is None else Decimal(str(v))


def _issues(exc: InputError) -> list[str]:
    return [str(i) for i in exc.issues]


@router.get("/billing", include_in_schema=False)
def billing_home(request: Request, db: DbSession, actor: ViewPage,
                 account: Annotated[str, Query(max_length=64)] = ""):
    """The runs, the start form, the newest notes, and an account's statements when one is looked up."""
    found = views.account_statements(db, actor, account.strip()) if account.strip() else (None, [])
    orgs = views.companies(db, actor)
    runs = views.runs(db, actor)
    names = {o.id: o for o in orgs}
    counts = {o.id: views.account_counts(db, actor, o.id) for o in orgs if actor.role != Role.PROGRAMME_OFFICE
              or any(r.org_id == o.id for r in runs)}
    seasons = views.seasons(db, actor, [o.id for o in orgs if o.id in counts])
    return render(request, "billing/index.html", _labels() | {
        "orgs": orgs, "names": names, "runs": runs, "counts": counts, "seasons": seasons or ["2020-2021"],
        "can_run": actor.role in (Role.HEAT_COMPANY, Role.ADMIN), "notes": views.recent_notes(db, actor),
        "account": account.strip(), "found": found[0], "found_statements": found[1]}, actor=actor)


@router.post("/billing/runs", include_in_schema=False, dependencies=[CsrfChecked])
def start_run(request: Request, db: DbSession, actor: CompanyPage, settings: AppSettings,
              company: Annotated[str, Form(max_length=64)] = "", season: Annotated[str, Form(max_length=9)] = "",
              kind: Annotated[str, Form(max_length=16)] = ""):
    """Queue a billing run (prepayment or settlement) of a company's season; its page follows the job."""
    try:
        job = submit_run(db, actor, settings.city_dir, company, season, kind)
    except InputError as exc:
        db.rollback()
        flash(request, "error", f"未开账 / not started: {exc.summary}", _issues(exc))
        return RedirectResponse("/billing", status_code=303)
    return submitted(request, job)


@router.get("/billing/runs/{run_id}", include_in_schema=False)
def run_page(request: Request, run_id: Id, db: DbSession, actor: ViewPage, page: PageNo = 1,
             kind: Annotated[str, Query(max_length=32)] = ""):
    run = views.run_of(db, actor, run_id)
    counts, exceptions = views.run_exceptions(db, actor, run_id, kind=kind or None)
    total, statements = views.run_statements(db, actor, run_id, offset=(page - 1) * PAGE_SIZE, limit=PAGE_SIZE)
    company = next((o for o in views.companies(db, actor) if o.id == run.org_id), None)
    summary = run.summary or {}
    rec = {k: _dec(v) if k.endswith("_yuan") else v for k, v in (summary.get("reconciliation") or {}).items()}
    totals = [t | {"amount_yuan": _dec(t.get("amount_yuan"))} for t in summary.get("totals") or []]
    line_totals = {k: _dec(v) for k, v in (summary.get("line_totals") or {}).items()}
    return render(request, "billing/run.html", _labels() | {
        "run": run, "company": company, "summary": summary, "rec": rec, "totals": totals, "line_totals": line_totals,
        "exception_counts": counts, "exceptions": exceptions, "kind": kind, "statements": statements,
        "statement_total": total, "page": page, "pages": max(1, -(-total // PAGE_SIZE)),
        "can_approve": run.state == "draft" and actor.role in (Role.HEAT_COMPANY, Role.ADMIN)}, actor=actor)


@router.post("/billing/runs/{run_id}/approve", include_in_schema=False, dependencies=[CsrfChecked])
def approve_page(request: Request, run_id: Id, db: DbSession, actor: CompanyPage):
    from cleanheat.billing import service

    views.run_of(db, actor, run_id)  # 404 for another company's run before anything else
    try:
        run = service.approve_run(db, actor, run_id)
    except (ConflictError, service.ReconciliationError) as exc:
        db.rollback()
        flash(request, "error", f"未批准 / not approved: {exc}")
        return RedirectResponse(f"/billing/runs/{run_id}", status_code=303)
    flash(request, "ok", f"已批准，{run.statement_count} 张账单已编号 / approved: {run.statement_count} statements "
                         "numbered")
    return RedirectResponse(f"/billing/runs/{run_id}", status_code=303)


@router.get("/billing/statements/{statement_id}", include_in_schema=False)
def statement_page(request: Request, statement_id: Id, db: DbSession, actor: ViewPage):
    view = views.statement_of(db, actor, statement_id)
    balance = views.account_balance(db, view.statement.account_id, view.statement.season)
    can_note = (view.statement.number is not None and view.statement.corrects_id is None
                and actor.role in (Role.HEAT_COMPANY, Role.ADMIN))
    return render(request, "billing/statement.html", _labels() | {"v": view, "balance": balance,
                                                                  "can_note": can_note}, actor=actor)


@router.post("/billing/statements/{statement_id}/notes", include_in_schema=False, dependencies=[CsrfChecked])
def note_page(request: Request, statement_id: Id, db: DbSession, actor: CompanyPage,
              direction: Annotated[str, Form(max_length=8)] = "", amount_yuan: Annotated[str, Form(max_length=20)] = "",
              reason: Annotated[str, Form(max_length=500)] = ""):
    """A credit note (refund to the customer) or a debit note (an extra charge) correcting a numbered statement."""
    from cleanheat.billing import service

    views.statement_of(db, actor, statement_id)  # 404 for another company's statement
    back = RedirectResponse(f"/billing/statements/{statement_id}", status_code=303)
    try:
        amount = Decimal(amount_yuan.strip())
    except InvalidOperation:
        amount = None
    if amount is None or not amount.is_finite() or amount <= 0 or direction not in ("credit", "debit"):
        flash(request, "error", "请填写正的金额（元，到分）并选择贷项或借项 / "
                                "enter a positive amount (yuan, to the fen) and choose credit or debit")
        return back
    try:
        note = service.issue_note(db, actor, statement_id, -amount if direction == "credit" else amount, reason)
    except InputError as exc:
        db.rollback()
        flash(request, "error", f"未开具 / not issued: {exc.summary}", _issues(exc))
        return back
    except ConflictError as exc:
        db.rollback()
        flash(request, "error", f"未开具 / not issued: {exc}")
        return back
    flash(request, "ok", f"已开具 {note.number} / issued {note.number}")
    return back


@router.get("/billing/metering", include_in_schema=False)
def metering_page(request: Request, db: DbSession, actor: MeteringPage, settings: AppSettings,
                  season: Annotated[str, Query(pattern=SEASON_RE)] = ""):
    known = views.all_seasons(db)
    season = season or (known[0] if known else "2020-2021")
    tasks = views.metering_task(db, actor, season, settings.city_dir)
    rows = views.metering_by_unit(db, actor, season, settings.city_dir)
    U = unit_namer(request.app, language(request))
    return render(request, "billing/metering.html", {
        "season": season, "seasons": known, "rows": rows, "tasks": tasks,
        "chart": [{"unit": U(r.unit_code), "billed_m2": float(r.billed_area_m2), "metered_m2": float(r.metered_area_m2),
                   "public": r.public_buildings, "metered_public": r.metered_public_buildings} for r in rows]},
        actor=actor)


@router.get("/me/bill", include_in_schema=False)
def resident_bill_page(request: Request, db: DbSession, actor: ResidentPage, settings: AppSettings,
                       season: Annotated[str, Query(pattern=SEASON_RE)] = ""):
    bill = views.resident_bill(db, actor, season or None, settings.city_dir)
    chart = {"months": [m.month for m in bill.months],
             "gj": [float((m.heat_kwh * views.GJ_PER_KWH).quantize(Decimal("0.001"))) for m in bill.months],
             "estimated": [m.estimated for m in bill.months], "spans": [m.months for m in bill.months]}
    return render(request, "billing/me.html", _labels() | {"bill": bill, "chart": chart}, actor=actor)
