"""The published evaluation report: quarterly (e.g. 2020Q4) or annual (e.g. 2021), as HTML, PDF or XLSX.

Content: summary, clean-heating rate against target by area type (chart), the trend over quarters (chart),
technology mix, ranking of units, task progress, units behind target, monitoring verification.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from jinja2 import Environment, FileSystemLoader, select_autoescape
from openpyxl import Workbook
from openpyxl.chart import BarChart, LineChart, Reference
from openpyxl.styles import Font, PatternFill
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cleanheat import charts
from cleanheat.auth.service import Actor
from cleanheat.config import Settings
from cleanheat.errors import InputError, InputIssue
from cleanheat.programme import service
from cleanheat.programme.indicators import Evaluation
from cleanheat.programme.model import (
    AREA_TYPE_LABELS,
    AREA_TYPES,
    Period,
    PlanData,
    task_display_scale,
    task_display_unit,
)
from cleanheat.programme.tables import Report
from cleanheat.tabular import workbook_bytes
from cleanheat.timeutil import PROGRAMME_TZ
from cleanheat.units import num, pct, share_pct, wan_m2

TEMPLATES = Path(__file__).resolve().parents[1] / "web" / "templates"
STATUS_ZH = {"met": "达标", "lagging": "滞后", "missed": "未达标", "no_data": "无数据", None: "—"}
#: where a task's counted value comes from (TaskResult.source)
SOURCE_ZH = {"registry": "热源登记", "billing": "计费数据", "reports": "季度报表"}


def parse_report_period(text: str) -> tuple[Period, bool]:
    """``2020Q4`` -> (2020Q4, quarterly); ``2021`` -> (2021Q4, annual)."""
    text = text.strip().upper()
    if text.isdigit() and len(text) == 4:
        return Period(int(text), 4), True
    try:
        return Period.parse(text), False
    except ValueError as exc:
        raise InputError("bad period",
                         [InputIssue(f"“{text}”应为季度（如 2020Q4）或年份（如 2021）", field="period")]) from exc


def task_display(task) -> tuple[float | None, float, str]:
    """(target, actual, unit) in display units (万m², %)."""
    scale = task_display_scale(task.measure)
    unit = task_display_unit(task.measure, task.unit_zh)
    return (task.target / scale if task.target is not None else None), task.actual / scale, unit


BASIS_ZH = {"verified": "核验口径", "reported": "上报口径"}
EVIDENCE_ZH = {"compliant": "达标", "non_compliant": "不达标", "no_monitoring_point": "无监测点",
               "insufficient_data": "数据不足", "not_required": "无需监测"}


def lead(r, basis: str) -> tuple:  # a RateResult
    """(rate, status, gap_m2, clean_area_m2) of the figure a report leads with (``Settings.report_rate_basis``)."""
    if basis == "verified":
        return r.verified, r.verified_status, r.verified_gap_m2, r.verified_clean_area_m2
    return r.actual, r.status, r.gap_m2, r.clean_area_m2


#: The PDF lists this many sources of the verification section (largest unevidenced and removed area first);
#: the rest are in the per-unit summary above them, in the Excel version and on the supervision page.
PDF_EVIDENCE_ROWS = 20
EVIDENCE_STATES = ("compliant", "non_compliant", "no_monitoring_point", "insufficient_data", "not_required")


def evidence_by_unit(ev: Evaluation, unit_zh: dict[str, str]) -> list[dict]:
    """Per unit (in the plan's order) the sources behind reported clean area by evidence state and their
    verified, unevidenced and removed area; the last row is the city total."""
    out: dict[str, dict] = {}

    def row(code: str) -> dict:
        return out.setdefault(code, {"name": unit_zh.get(code, code), "sources": 0, "verified_m2": 0.0,
                                     "unverified_m2": 0.0, "reclassified_m2": 0.0}
                              | {k: 0 for k in EVIDENCE_STATES})

    for code in unit_zh:
        if any(v.admin_unit_code == code for v in ev.verification) or \
                any(a.admin_unit_code == code for a in ev.unattributed):
            row(code)
    for v in ev.evidence_rows():
        r = row(v.admin_unit_code)
        r["sources"] += 1
        r[v.evidence] = r.get(v.evidence, 0) + 1
        r["verified_m2"] += v.counted_clean_m2
        r["unverified_m2"] += v.unverified_m2
        r["reclassified_m2"] += v.reclassified_m2
    for a in ev.unattributed:
        row(a.admin_unit_code)["unverified_m2"] += a.unverified_m2
    rows = list(out.values())
    total = {"name": "合计", "total": True} | {k: sum(r[k] for r in rows) for k in rows[0] if k != "name"} \
        if rows else None
    return rows + ([total] if total else [])


def _evaluation_and_trend(session: Session, actor: Actor, plan: PlanData, period: Period, settings: Settings
                          ) -> tuple[Evaluation, list[dict]]:
    """The evaluation and the quarterly trend, computed side by side: both spend most of their time in the
    database (monitoring verdicts), so the trend runs on a second read-only session in a worker thread (it sees
    what is committed: callers publish from a session that has not written)."""
    from concurrent.futures import ThreadPoolExecutor

    from sqlalchemy.engine import Engine

    service.require_in_programme(plan, period)  # before the trend starts: every quarter up to a far period
    if not isinstance(session.get_bind(), Engine) or session.new or session.dirty or session.deleted:
        # bound to one connection, or holding unflushed writes another session would not see: one after the other
        return (service.evaluate(session, actor, plan, year=period.year, period=period, settings=settings),
                service.trend(session, actor, plan, period, settings))

    def trend_in_own_session() -> list[dict]:
        with Session(bind=session.get_bind()) as other:
            return service.trend(other, actor, plan, period, settings)

    with ThreadPoolExecutor(max_workers=1) as pool:
        future = pool.submit(trend_in_own_session)
        ev = service.evaluate(session, actor, plan, year=period.year, period=period, settings=settings)
        return ev, future.result()


def build_context(session: Session, actor: Actor, plan: PlanData, period: Period, annual: bool,
                  settings: Settings | None = None) -> dict:
    settings = settings or Settings()
    ev, trend = _evaluation_and_trend(session, actor, plan, period, settings)
    basis = settings.report_rate_basis
    suffix = "_verified" if basis == "verified" else ""
    plan_synthetic = session.scalar(select(func.count()).select_from(Report).where(
        Report.synthetic.is_(True), Report.status == "accepted")) or 0
    units_ranked = sorted([u for u in ev.units if "all" in u.rates],
                          key=lambda u: -((lead(u.rates["all"], basis)[0] or 0) - (u.rates["all"].target or 0)))
    behind = [u for u in units_ranked if lead(u.rates["all"], basis)[1] in ("lagging", "missed")]
    missing = [u for u in ev.units if u.report_period is None or u.stale]
    tasks_behind = [t for t in ev.tasks if t.status in ("lagging", "missed")]
    labels = [AREA_TYPE_LABELS[k][0] for k in (*AREA_TYPES, "city")]
    chart_rates = charts.bars_vs_target(labels, [lead(ev.rates[k], basis)[0] for k in (*AREA_TYPES, "city")],
                                        [ev.rates[k].target for k in (*AREA_TYPES, "city")],
                                        title=f"{period} 清洁取暖率（{BASIS_ZH[basis]}）与目标")
    chart_trend = charts.lines([t["period"] for t in trend],
                               {AREA_TYPE_LABELS[k][0]: [t[k + suffix] for t in trend] for k in (*AREA_TYPES, "city")},
                               title=f"清洁取暖率季度走势（{BASIS_ZH[basis]}）")
    techs = [t for t in ev.technologies if t.area_m2 > 0]
    chart_tech = charts.horizontal_bars([t.name_zh for t in techs], [t.area_m2 / 1e4 for t in techs],
                                        title="各取暖方式取暖面积（万m²）")
    now = datetime.now(ZoneInfo(PROGRAMME_TZ))
    unit_zh = {u.code: u.name_zh for u in plan.units}
    return {
        "unit_zh": unit_zh, "evidence_units": evidence_by_unit(ev, unit_zh), "evidence_limit": None,
        "plan": plan, "ev": ev, "period": period, "annual": annual, "trend": trend,
        "title": f"{plan.city}冬季清洁取暖{'年度' if annual else '季度'}评价报告（{period.year}年"
                 f"{'' if annual else f'第{period.quarter}季度'}）",
        "labels": AREA_TYPE_LABELS, "area_types": AREA_TYPES, "status_zh": STATUS_ZH,
        "units_ranked": units_ranked, "behind": behind, "missing": missing, "tasks_behind": tasks_behind,
        "task_display": task_display, "synthetic": plan_synthetic > 0,
        "chart_rates": charts.data_uri(chart_rates), "chart_trend": charts.data_uri(chart_trend),
        "chart_tech": charts.data_uri(chart_tech), "generated": now.strftime("%Y-%m-%d %H:%M"),
        "wan": wan_m2, "pct": pct, "num": num, "share": share_pct,
        "basis": basis, "basis_zh": BASIS_ZH, "tech_zh": {t.code: t.name_zh for t in plan.technologies},
        "lead": lambda r: lead(r, basis), "evidence_zh": EVIDENCE_ZH,
    }


def _env() -> Environment:
    return Environment(loader=FileSystemLoader(str(TEMPLATES)), autoescape=select_autoescape(["html"]))


def render_html(ctx: dict) -> str:
    return _env().get_template("programme/report.html").render(**ctx)


#: the formats of a publication and their media types
MEDIA = {"pdf": "application/pdf", "html": "text/html; charset=utf-8",
         "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"}


def _no_progress(fraction: float, message: str) -> None:
    pass


def check_format(fmt: str) -> None:
    if fmt not in MEDIA:
        raise InputError("unknown format", [InputIssue(f"未知格式 {fmt}", field="format")])


def publication(session: Session, actor: Actor, plan: PlanData, period_text: str, fmt: str,
                settings: Settings | None = None,
                progress: Callable[[float, str], None] = _no_progress) -> tuple[str, bytes]:
    """The report of ``period_text`` (``2020Q4`` or ``2021``) in ``fmt``: (file name, content);
    ``progress(fraction [0..1], message)`` between the steps."""
    check_format(fmt)
    p, annual = parse_report_period(period_text)
    content = render(session, actor, plan, p, annual=annual, fmt=fmt, settings=settings, progress=progress)
    return f"cleanheat-{plan.code}-{period_text.strip().upper()}.{fmt}", content


def submit_publication(session: Session, actor: Actor, period_text: str, fmt: str):
    """Queue the report as a job (``programme.publication``) after checking the period and the format."""
    from cleanheat.jobs import queue

    check_format(fmt)
    parse_report_period(period_text)
    text = period_text.strip().upper()
    return queue.submit(session, actor, "programme.publication", {"period": text, "format": fmt},
                        title=f"评价报告 · {text} · {fmt.upper()}",
                        title_en=f"Evaluation report · {text} · {fmt.upper()}")


def render(session: Session, actor: Actor, plan: PlanData, period: Period, *, annual: bool, fmt: str,
           settings: Settings | None = None, progress: Callable[[float, str], None] = _no_progress) -> bytes:
    progress(0.05, "评价各单位 / evaluating the units")
    ctx = build_context(session, actor, plan, period, annual, settings)
    progress(0.5, "排版 / laying out the report")
    if fmt == "html":
        return render_html(ctx).encode("utf-8")
    if fmt == "pdf":
        from weasyprint import HTML

        # A page lists the sources with the largest unevidenced area; hundreds of rows would take a minute to
        # lay out and say nothing the per-unit summary does not (the full list: XLSX, HTML, supervision page).
        ctx["evidence_limit"] = PDF_EVIDENCE_ROWS
        return HTML(string=render_html(ctx), base_url=str(TEMPLATES)).write_pdf()
    if fmt == "xlsx":
        return render_xlsx(ctx)
    raise InputError("unknown format", [InputIssue(f"未知格式 {fmt}，应为 pdf、xlsx 或 html", field="format")])


def render_xlsx(ctx: dict) -> bytes:
    ev: Evaluation = ctx["ev"]
    wb = Workbook()
    bold, head = Font(bold=True), PatternFill("solid", fgColor="DDEBF7")

    def header(ws, cols: list[str]) -> None:
        ws.append(cols)
        for c in ws[ws.max_row]:
            c.font, c.fill = bold, head

    ws = wb.active
    ws.title = "摘要"
    ws.append([ctx["title"]])
    ws["A1"].font = Font(bold=True, size=14)
    ws.append([f"依据：{ctx['plan'].title_zh}"])
    ws.append([f"生成时间：{ctx['generated']}（北京时间）；报送单位 {ev.units_reporting}/{ev.units_total}"])
    ws.append([f"主口径：{BASIS_ZH[ctx['basis']]}（核验口径只计有在线监测证据的清洁面积；上报口径为单位上报的清洁面积"
               f"扣除监测不达标热源面积）。核验时段："
               + "；".join(f"{a} – {b}" for a, b in ev.windows)])
    if ctx["synthetic"]:
        ws.append(["注意：本报告包含合成演示数据 (contains SYNTHETIC demo data)"])
    ws.append([])
    header(ws, ["区域类型", "取暖面积(万m²)", "清洁取暖面积(万m²)", "清洁取暖率(%)", "目标(%)", "状态", "缺口(万m²)",
                "上报清洁率(%)", "核验清洁率(%)", "无证据面积(万m²)", "核验状态"])
    first = ws.max_row + 1
    for k in (*AREA_TYPES, "city"):
        r = ev.rates[k]
        rate, status, gap, clean = lead(r, ctx["basis"])
        ws.append([AREA_TYPE_LABELS[k][0], round(r.heated_area_m2 / 1e4, 1), round(clean / 1e4, 1),
                   round((rate or 0) * 100, 2), round((r.target or 0) * 100, 2) if r.target else None,
                   STATUS_ZH[status], round((gap or 0) / 1e4, 1), round((r.actual or 0) * 100, 2),
                   round((r.verified or 0) * 100, 2), round(r.unverified_m2 / 1e4, 1), STATUS_ZH[r.verified_status]])
    chart = BarChart()
    chart.title, chart.y_axis.title = "清洁取暖率与目标 (%)", "%"
    chart.add_data(Reference(ws, min_col=4, max_col=5, min_row=first - 1, max_row=ws.max_row), titles_from_data=True)
    chart.set_categories(Reference(ws, min_col=1, min_row=first, max_row=ws.max_row))
    ws.add_chart(chart, "I2")
    for col, w in zip("ABCDEFG", (18, 16, 18, 14, 10, 10, 12), strict=True):
        ws.column_dimensions[col].width = w

    tr = wb.create_sheet("季度走势")
    header(tr, ["报告期"] + [AREA_TYPE_LABELS[k][0] + "(%)" for k in (*AREA_TYPES, "city")])
    for t in ctx["trend"]:
        tr.append([t["period"]] + [round((t[k] or 0) * 100, 2) for k in (*AREA_TYPES, "city")])
    lc = LineChart()
    lc.title = "清洁取暖率季度走势 (%)"
    lc.add_data(Reference(tr, min_col=2, max_col=5, min_row=1, max_row=tr.max_row), titles_from_data=True)
    lc.set_categories(Reference(tr, min_col=1, min_row=2, max_row=tr.max_row))
    tr.add_chart(lc, "G2")

    us = wb.create_sheet("各区县排名")
    header(us, ["排名", "单位", "数据报告期", "取暖面积(万m²)", "清洁取暖率(%)", "目标(%)", "状态"]
           + [AREA_TYPE_LABELS[k][0] + "(%)" for k in AREA_TYPES])
    for i, u in enumerate(ctx["units_ranked"], start=1):
        r = u.rates["all"]
        us.append([i, u.name_zh, str(u.report_period) + ("（滞报）" if u.stale else ""),
                   round(r.heated_area_m2 / 1e4, 1),
                   round((r.actual or 0) * 100, 2), round((r.target or 0) * 100, 2) if r.target else None,
                   STATUS_ZH[r.status]] + [round((u.rates[k].actual or 0) * 100, 2) if k in u.rates else None
                                           for k in AREA_TYPES])
    us.column_dimensions["B"].width = 12

    ts = wb.create_sheet("取暖方式")
    header(ts, ["取暖方式", "取暖面积(万m²)", "占比(%)", "目标(万m²)", "口径", "目标年", "状态", "条款"])
    for t in ev.technologies:
        ts.append([t.name_zh, round(t.area_m2 / 1e4, 1), round((t.share or 0) * 100, 2),
                   round(t.target_m2 / 1e4, 1) if t.target_m2 else None,
                   {"level": "达到", "increase": "新增"}.get(t.basis or "", ""), t.target_year, STATUS_ZH[t.status],
                   t.clause or ""])

    tk = wb.create_sheet("任务进展")
    header(tk, ["任务", "单位", "目标", "目标年", "完成", "完成率(%)", "来源", "状态", "条款", "责任单位"])
    for t in ev.tasks:
        target, actual, unit = task_display(t)
        tk.append([t.name_zh, unit, target, t.target_year, round(actual, 2),
                   round(t.completion * 100, 1) if t.completion is not None else None,
                   SOURCE_ZH.get(t.source, "季度报表"), STATUS_ZH[t.status], t.clause,
                   "、".join(t.responsible)])
    tk.column_dimensions["A"].width = 40

    bh = wb.create_sheet("滞后单位")
    header(bh, ["单位", "清洁取暖率(%)", "目标(%)", "缺口(万m²)", "状态"])
    for u in ctx["behind"]:
        r = u.rates["all"]
        bh.append([u.name_zh, round((r.actual or 0) * 100, 2), round((r.target or 0) * 100, 2),
                   round((r.gap_m2 or 0) / 1e4, 1), STATUS_ZH[r.status]])
    if ev.verification or ev.unattributed:
        _verification_sheet(wb, ev, header, ctx["unit_zh"])
    return workbook_bytes(wb)


def _verification_sheet(wb: Workbook, ev: Evaluation, header, unit_zh: dict[str, str]) -> None:
    """The evidence per source and the reported clean area without a registered source (docs/evidence.md)."""
    vs = wb.create_sheet("在线监测核验")
    vs.append(["核验时段：" + "；".join(f"{a} – {b}" for a, b in ev.windows)])
    pols = ("PM", "SO2", "NOx")
    header(vs, ["热源", "单位", "区域类型", "取暖方式", "供热面积(万m²)", "须监测", "结论"]
           + [f"{p} 有效小时达标率" for p in pols]
           + ["核验清洁(万m²)", "无证据(万m²)", "调出(万m²)", "说明"])
    for v in ev.verification:
        vs.append([v.name_zh, unit_zh.get(v.admin_unit_code, v.admin_unit_code), AREA_TYPE_LABELS[v.area_type][0],
                   v.technology,
                   round(v.served_area_m2 / 1e4, 1), "是" if v.required else "否", EVIDENCE_ZH.get(v.evidence, "")]
                  + [share_pct(v.pollutants[p]["compliant_share"], 2) if p in v.pollutants else None
                     for p in pols]
                  + [round(v.counted_clean_m2 / 1e4, 1), round(v.unverified_m2 / 1e4, 1),
                     round(v.reclassified_m2 / 1e4, 1), v.reason])
    for a in ev.unattributed:
        vs.append(["（无登记热源）", unit_zh.get(a.admin_unit_code, a.admin_unit_code),
                   AREA_TYPE_LABELS[a.area_type][0], a.technology,
                   round(a.registered_m2 / 1e4, 1), "是", "无监测点", None, None, None, 0.0,
                   round(a.unverified_m2 / 1e4, 1), 0.0, f"上报 {a.reported_m2 / 1e4:.1f} 万m² 超出登记热源供热面积"])
