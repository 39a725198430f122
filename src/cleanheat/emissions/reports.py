"""The monthly compliance report as XLSX (openpyxl) and PDF (WeasyPrint from a Jinja template)."""

from __future__ import annotations

from pathlib import Path

from jinja2 import Environment, FileSystemLoader, select_autoescape

from cleanheat.emissions.hj212.codec import CHINA_TZ
from cleanheat.emissions.processing import POLLUTANTS
from cleanheat.emissions.service import MonthlyReport
from cleanheat.tabular import workbook_bytes

TEMPLATES = Path(__file__).resolve().parents[1] / "web" / "templates"
POLLUTANT_LABELS = {"a34013": ("颗粒物", "PM"), "a21026": ("二氧化硫", "SO2"), "a21002": ("氮氧化物", "NOx")}


def _pct(x: float | None) -> str:
    return "–" if x is None else f"{x * 100:.1f}%"


def _verdict(c: bool | None) -> tuple[str, str]:
    return {True: ("达标", "compliant"), False: ("不达标", "not compliant"), None: ("无数据", "no data")}[c]


def pollutant_name(code: str) -> str:
    """A pollutant as people name it (颗粒物 PM), never its HJ 212 code."""
    zh, en = POLLUTANT_LABELS[code]
    return f"{zh} {en}"


def report_rows(report: MonthlyReport, unit_names: dict[str, str] | None = None) -> list[dict]:
    """One row per point and pollutant, plus the point's overall line (used by both renderers); ``unit_names``
    maps administrative unit codes to names."""
    unit_names = unit_names or {}
    rows = []
    for r in report.rows:
        s = r.summary
        src = r.point.source
        base = {"mn": r.point.mn, "point": r.point.name_zh, "source": src.name_zh, "source_code": src.code,
                "company": r.company,
                "unit": unit_names.get(src.admin_unit_code or "", src.admin_unit_code)}
        for p in POLLUTANTS:
            st = s.pollutants.get(p)
            if st is None:
                continue
            rows.append(base | {"kind": "pollutant", "pollutant": p, "label": POLLUTANT_LABELS[p][0],
                                "limit": st.limit_mg_m3, "valid_hours": st.valid_hours, "capture": st.capture,
                                "within": st.within_hours, "exceeded": st.exceeded_hours,
                                "share": st.share_within, "max": st.max_zs_mg_m3, "mean": st.mean_zs_mg_m3})
        rows.append(base | {"kind": "total", "valid_hours": s.valid_hours, "capture": s.capture,
                            "within": s.within, "exceeded": s.judged - s.within, "share": s.share_within,
                            "events": s.exceedance_events, "verdict": _verdict(s.compliant),
                            "reason": f"{s.reason_zh} / {s.reason}" if s.compliant is not True else ""})
    return rows


def monthly_xlsx(report: MonthlyReport, unit_names: dict[str, str] | None = None) -> bytes:
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Font, PatternFill
    from openpyxl.utils import get_column_letter

    wb = Workbook()
    ws = wb.active
    ws.title = "月度达标 Monthly"
    ws.append([f"重点排污单位（供热热源）在线监测月度达标报告 Monthly CEMS compliance report — {report.label}"])
    ws["A1"].font = Font(bold=True, size=13)
    ws.append([(f"达标判定：有效小时折算均值不超过限值的比例 ≥ {report.threshold:.0%}，且数据有效率 ≥ "
                f"{report.rules.min_valid_hour_share:.0%} / share of valid hours within limits ≥ threshold")])
    ws.append([f"生成时间 generated {report.generated_at.astimezone(CHINA_TZ):%Y-%m-%d %H:%M} (北京时间)"])
    ws.append([])
    header = ["MN", "监测点 point", "热源 source", "热源编码 code", "企业 company", "区县 unit", "污染物 pollutant",
              "限值 limit mg/m³", "有效小时 valid h", "数据有效率 capture", "达标小时 within h", "超标小时 over h",
              "达标率 share within", "最大小时折算浓度 max mg/m³", "月均折算浓度 mean mg/m³", "超标事件 events",
              "结论 verdict", "说明 reason"]
    ws.append(header)
    for c in ws[5]:
        c.font = Font(bold=True)
        c.fill = PatternFill("solid", fgColor="EEF2F6")
        c.alignment = Alignment(wrap_text=True, vertical="top")
    for row in report_rows(report, unit_names):
        total = row["kind"] == "total"
        ws.append([row["mn"], row["point"], row["source"], row["source_code"], row["company"], row["unit"],
                   "合计 all" if total else pollutant_name(row["pollutant"]),
                   None if total else row["limit"], row["valid_hours"], row["capture"], row["within"],
                   row["exceeded"], row["share"], None if total else row["max"], None if total else row["mean"],
                   row.get("events") if total else None,
                   " / ".join(row["verdict"]) if total else None, row.get("reason") if total else None])
        r = ws.max_row
        for col in (10, 13):
            ws.cell(r, col).number_format = "0.0%"
        for col in (14, 15):
            ws.cell(r, col).number_format = "0.00"
        if total:
            for c in ws[r]:
                c.font = Font(bold=True)
            if row["verdict"][0] == "不达标":
                ws.cell(r, 17).font = Font(bold=True, color="C53030")
    for i, w in enumerate([26, 22, 22, 14, 20, 10, 18, 10, 9, 10, 9, 9, 10, 12, 12, 8, 16, 50], start=1):
        ws.column_dimensions[get_column_letter(i)].width = w
    ws.freeze_panes = "A6"
    notes = wb.create_sheet("说明 Notes")
    rules = report.rules
    names = report.pollutant_names
    for line in [
        "数据来源：HJ 212 在线监测上传的分钟、小时数据；平台按热源所属限值表的基准氧含量重新折算。",
        "Data: HJ 212 minute and hourly uploads; converted by the platform to the reference O2 of the source's limits.",
        f"有效小时：≥ {rules.hour_min_valid_minutes} 个有效分钟（标记 N），或标记 N 的小时上传值（分钟数据不足时）。",
        f"Valid hour: >= {rules.hour_min_valid_minutes} valid minutes (flag N), or a valid hourly upload.",
        "达标率 = 有效小时中折算浓度不超过限值的小时数 / 有效小时数（各污染物分别计算，合计行为最低者）。",
        "Share within = valid hours at or below the limit / valid hours, per pollutant; the total line shows the "
        "lowest pollutant (a point complies only when every pollutant reaches the threshold).",
        "限值见 data/emissions/limits.yaml（含来源与置信度）。Limits: data/emissions/limits.yaml.",
        "污染物 pollutants: " + ", ".join(" ".join(names.get(p, (p, ""))) for p in POLLUTANTS),
    ]:
        notes.append([line])
    notes.column_dimensions["A"].width = 120
    return workbook_bytes(wb)


def _env() -> Environment:
    env = Environment(loader=FileSystemLoader(str(TEMPLATES)), autoescape=select_autoescape(["html"]))
    env.filters["pct"] = _pct
    env.filters["num"] = lambda v, d=1: "–" if v is None else f"{float(v):,.{d}f}"
    return env


def monthly_html(report: MonthlyReport) -> str:
    return _env().get_template("emissions/report_pdf.html").render(
        report=report, rules=report.rules, labels=[(p, *POLLUTANT_LABELS[p]) for p in POLLUTANTS],
        generated=report.generated_at.astimezone(CHINA_TZ).strftime("%Y-%m-%d %H:%M"))


def monthly_pdf(report: MonthlyReport) -> bytes:
    from weasyprint import HTML

    return HTML(string=monthly_html(report), base_url=str(TEMPLATES)).write_pdf()
