"""The audit log as a spreadsheet: every text cell (user names, summaries, details) is stored as text."""

from __future__ import annotations

import json
from zoneinfo import ZoneInfo

from openpyxl import Workbook
from openpyxl.styles import Font

from cleanheat.auth.tables import AuditLog
from cleanheat.tabular import workbook_bytes


def describe_changes(detail: dict) -> str:
    """``field: before → after`` for the changes an entry records, else the detail as JSON."""
    changes = detail.get("changes") if isinstance(detail, dict) else None
    if isinstance(changes, dict) and changes:
        return "; ".join(f"{k}: {v[0]} → {v[1]}" if isinstance(v, list | tuple) and len(v) == 2 else f"{k}: {v}"
                         for k, v in changes.items())
    return json.dumps(detail, ensure_ascii=False, sort_keys=True, default=str) if detail else ""


def audit_workbook(rows: list[AuditLog], cut: bool, timezone: str) -> bytes:
    tz = ZoneInfo(timezone)
    wb = Workbook()
    ws = wb.active
    ws.title = "审计日志 Audit log"
    header = ["时间 time", "操作人 who", "操作 action", "对象 object", "对象编号 object id", "说明 summary",
              "变化 what changed", "详情 detail (JSON)"]
    ws.append(header)
    for c in ws[1]:
        c.font = Font(bold=True)
    for r in rows:
        ws.append([r.at.astimezone(tz).strftime("%Y-%m-%d %H:%M:%S"), r.actor, r.action, r.entity, r.entity_id,
                   r.summary, describe_changes(r.detail),
                   json.dumps(r.detail, ensure_ascii=False, sort_keys=True, default=str)])
    if cut:
        ws.append([f"（仅导出最新 {len(rows)} 条 / only the newest {len(rows)} entries)"])
    for col, width in zip("ABCDEFGH", (20, 16, 14, 18, 12, 50, 50, 60), strict=True):
        ws.column_dimensions[col].width = width
    ws.freeze_panes = "A2"
    return workbook_bytes(wb)
