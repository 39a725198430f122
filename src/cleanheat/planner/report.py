"""Downloadable reports of a pathway result: XLSX (openpyxl) and PDF (WeasyPrint, Chinese with Noto CJK).

Inputs are the stored result summary (``engine.result_summary``) and per-area rows; charts in the PDF are drawn
with matplotlib (ECharts needs a browser).
"""

from __future__ import annotations

import base64
import io
from datetime import UTC, datetime
from pathlib import Path

from cleanheat.planner.catalogue import Catalogue
from cleanheat.programme.model import AREA_TYPE_LABELS
from cleanheat.tabular import workbook_bytes

TEMPLATES = Path(__file__).resolve().parents[1] / "web" / "templates" / "planner"
POLLUTANTS = (("co2_t", "CO2", "t"), ("pm_kg", "PM", "kg"), ("so2_kg", "SO2", "kg"), ("nox_kg", "NOx", "kg"))


def T_for(lang: str):
    def T(zh: str, en: str = "") -> str:
        return en if (lang == "en" and en) else zh

    return T


def _opt_name(cat: Catalogue, code: str, lang: str) -> str:
    try:
        o = cat.option(code)
    except KeyError:
        return code
    return o.name_en if lang == "en" and o.name_en else o.name_zh


def _type_name(at: str, lang: str) -> str:
    zh, en = AREA_TYPE_LABELS.get(at, (at, at))
    return en if lang == "en" else zh


def write_xlsx(summary: dict, areas: list[dict], cat: Catalogue, lang: str = "zh") -> bytes:
    from openpyxl import Workbook
    from openpyxl.styles import Font

    T = T_for(lang)
    wb = Workbook()
    bold = Font(bold=True)
    years = summary["years"]

    def sheet(title: str, header: list[str]):
        ws = wb.create_sheet(title)
        ws.append(header)
        for c in ws[1]:
            c.font = bold
        return ws

    ws = wb.active
    ws.title = T("概要", "Summary")
    aset = summary.get("area_set", {})
    rows = [
        (T("情景", "Scenario"), summary["scenario"]),
        (T("状态", "Status"), summary["status"]),
        (T("折现总成本（元）", "Total discounted cost (yuan)"), summary["total_cost_yuan"]),
        (T("相对维持现状的成本变化（元）", "Cost change against the status quo (yuan)"), summary["cost_change_yuan"]),
        (T("年份", "Years"), f"{years[0]}–{years[-1]}"),
        (T("区域数据", "Area set"), f"{aset.get('name')} ({aset.get('areas')} areas)"
         + (T("（合成数据）", " (SYNTHETIC)") if aset.get("synthetic") else "")),
        (T("变量数 / 约束数", "Columns / rows"), f"{summary['solver']['columns']} / {summary['solver']['rows']}"),
        (T("求解时间（秒）", "Solve time (s)"), summary["solver"]["solve_s"]),
        (T("生成时间（UTC）", "Generated (UTC)"), datetime.now(UTC).strftime("%Y-%m-%d %H:%M")),
    ]
    if summary.get("infeasibility"):
        rows.append((T("不可行原因", "Why infeasible"), summary["infeasibility"][T("summary_zh", "summary_en")]))
    for r in rows:
        ws.append(list(r))
    ws.column_dimensions["A"].width = 36
    ws.column_dimensions["B"].width = 60

    ws = sheet(T("清洁取暖率", "Clean-heating rates"),
               [T("区域类型", "Area type"), T("现状", "Baseline")] + [f"{y}" for y in years]
               + [f"{T('目标', 'target')} {y}" for y in years])
    for at, v in summary["rates"].items():
        tg = summary["rate_targets"].get(at, {})
        ws.append([_type_name(at, lang), summary["baseline"]["rates"].get(at)] + [v.get(str(y)) for y in years]
                  + [tg.get(str(y)) for y in years])
    ws = sheet(T("取暖方式结构", "Option mix"), [T("方式", "Option"), "code"] + [f"{y} (m²)" for y in years])
    for code, v in summary["option_mix_m2"].items():
        ws.append([_opt_name(cat, code, lang), code] + [round(v.get(str(y), 0.0)) for y in years])
    ws = sheet(T("新建改造", "Conversions"), [T("区域类型", "Area type"), T("方式", "Option"), T("年份", "Year"),
                                            T("面积 m²", "Area m²")])
    for at, opts in summary["built_m2_by_area_type"].items():
        for code, ys in opts.items():
            for y, m2 in ys.items():
                ws.append([_type_name(at, lang), _opt_name(cat, code, lang), int(y), round(m2)])
    ws = sheet(T("排放", "Emissions"), [T("年份", "Year")] + [f"{n} ({u})" for _, n, u in POLLUTANTS])
    ws.append([T("现状", "baseline")] + [summary["baseline"]["emissions"][k] for k, _, _ in POLLUTANTS])
    for y in years:
        e = summary["emissions"][str(y)]
        ws.append([y] + [e[k] for k, _, _ in POLLUTANTS])
    ws = sheet(T("逐年", "By year"), [T("年份", "Year"), T("年成本（元）", "Annual cost (yuan)"),
                                     T("投资（元）", "Investment (yuan)"), T("补贴（元）", "Subsidy (yuan)"),
                                     T("新增用气（万m³）", "New gas (10⁴ m³)"),
                                     T("电采暖峰值（MW）", "Electric peak (MW)"),
                                     T("改造面积（m²）", "Converted (m²)")])
    for d in summary["by_year"]:
        ws.append([d["year"], d["annual_cost_yuan"], d["investment_yuan"], d["subsidy_yuan"], d["new_gas_1e4_m3"],
                   d["electric_peak_mw"], d["built_m2"]])
    ws = sheet(T("起约束作用的限制", "Binding constraints"),
               [T("约束", "Constraint"), T("取值", "Activity"), T("限值", "Limit"), T("单位", "Unit"),
                T("影子价格", "Shadow price"), T("单位", "Unit")])
    for b in summary["binding"]:
        ws.append([b[T("label_zh", "label_en")], b["activity"], b["limit"], b["unit"], b["shadow_price"],
                   b["shadow_unit"]])
    ws = sheet(T("区域", "Areas"), [T("区域代码", "Area"), T("名称", "Name"), T("行政单位", "Unit"),
                                   T("区域类型", "Area type"), T("供暖面积 m²", "Heated m²"), T("年份", "Year"),
                                   T("方式", "Option"), T("份额", "Share"), T("当年新建份额", "Built share")])
    for a in areas:
        for y, opts in a["years"].items():
            for o in opts:
                ws.append([a["code"], a["name"], a["unit_code"], _type_name(a["area_type"], lang),
                           a["heated_area_m2"], int(y), _opt_name(cat, o["option"], lang), o["share"],
                           o.get("built_share", 0.0)])
    ws = sheet(T("方式目录", "Catalogue"), [T("方式", "Option"), T("参数", "Parameter"), T("取值", "Value"),
                                          T("下限", "Low"), T("上限", "High"), T("可信度", "Confidence"),
                                          T("来源", "Source")])
    for o in cat.options:
        for k, q in o.quantities().items():
            ws.append([o.code, k, q.value, q.low, q.high, q.confidence, q.source])
    return workbook_bytes(wb)


def _chart_png(summary: dict, cat: Catalogue, lang: str) -> tuple[str, str]:
    """Two charts as data URIs: rates against targets, and the option mix by year."""
    # the Agg backend, and the CJK font registered from its file
    from cleanheat.charts import plt, use_cjk_font

    use_cjk_font()
    T = T_for(lang)
    years = summary["years"]
    fig, ax = plt.subplots(figsize=(6.4, 3.0), dpi=110)
    colours = {"urban": "#c23531", "county_fringe": "#2f4554", "rural": "#61a0a8", "city": "#d48265"}
    for at, v in summary["rates"].items():
        ax.plot(years, [v[str(y)] * 100 for y in years], marker="o", color=colours.get(at), label=_type_name(at, lang))
        tg = summary["rate_targets"].get(at)
        if tg:
            ax.plot(years, [tg.get(str(y), float("nan")) * 100 for y in years], ls="--", color=colours.get(at),
                    alpha=0.6)
    ax.set_ylabel(T("清洁取暖率 %（虚线为目标）", "Clean-heating rate % (dashed: target)"))
    ax.set_xticks(years)
    ax.legend(fontsize=7, ncol=4, loc="lower right")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    b1 = io.BytesIO()
    fig.savefig(b1, format="png")
    plt.close(fig)
    fig, ax = plt.subplots(figsize=(6.4, 3.2), dpi=110)
    bottom = [0.0] * len(years)
    for code, v in sorted(summary["option_mix_m2"].items(), key=lambda kv: -kv[1][str(years[-1])]):
        vals = [v.get(str(y), 0.0) / 1e4 for y in years]
        ax.bar([str(y) for y in years], vals, bottom=bottom, label=_opt_name(cat, code, lang))
        bottom = [b + x for b, x in zip(bottom, vals, strict=True)]
    ax.set_ylabel(T("供暖面积（万m²）", "Heated area (10⁴ m²)"))
    ax.legend(fontsize=6, ncol=2, loc="center left", bbox_to_anchor=(1.0, 0.5))
    fig.tight_layout()
    b2 = io.BytesIO()
    fig.savefig(b2, format="png")
    plt.close(fig)
    return ("data:image/png;base64," + base64.b64encode(b1.getvalue()).decode(),
            "data:image/png;base64," + base64.b64encode(b2.getvalue()).decode())


def write_pdf(summary: dict, cat: Catalogue, lang: str = "zh", *, result_id: int | None = None) -> bytes:
    from jinja2 import Environment, FileSystemLoader, select_autoescape
    from weasyprint import HTML

    env = Environment(loader=FileSystemLoader(str(TEMPLATES)), autoescape=select_autoescape(["html"]))
    rates_png, mix_png = _chart_png(summary, cat, lang)
    html = env.get_template("report_pdf.html").render(
        s=summary, T=T_for(lang), lang=lang, rates_png=rates_png, mix_png=mix_png, result_id=result_id,
        type_name=lambda at: _type_name(at, lang), opt_name=lambda c: _opt_name(cat, c, lang),
        pollutants=POLLUTANTS, generated=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
    )
    return HTML(string=html).write_pdf()
