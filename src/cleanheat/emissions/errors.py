"""Errors of the emissions area.

::

    CleanheatError
    └── InputError
        └── HJ212Error            a frame or packet that breaks HJ 212 (carries ``reason``, ``offset``, ``field``)
    └── EmissionsError            base of the other errors of this area
        ├── LimitTableError       the limit table (data/emissions/limits.yaml) is malformed
        └── UnknownPointError     no monitoring point is registered for an MN

``HJ212Error.reason`` is a short machine code (see ``REASONS``) stored with every malformed packet; the message
says what is wrong and where (byte offset from the start of the frame, field name).
"""

from __future__ import annotations

from cleanheat.errors import CleanheatError, InputError, InputIssue, NotFoundError

#: Reason codes of malformed input, with a Chinese and an English label.
REASONS: dict[str, tuple[str, str]] = {
    "garbage": ("帧间垃圾数据", "bytes outside any frame"),
    "truncated": ("帧不完整", "frame cut short"),
    "bad_header": ("包头错误", "bad packet header"),
    "bad_length": ("数据段长度错误", "bad data-segment length"),
    "too_long": ("数据段过长", "data segment too long"),
    "bad_tail": ("包尾错误", "bad packet tail"),
    "bad_crc": ("CRC 校验错误", "CRC mismatch"),
    "crc_modbus": ("CRC 为 CRC-16/MODBUS（设备缺陷）", "CRC is CRC-16/MODBUS (device bug)"),
    "bad_encoding": ("字符编码错误", "text is neither UTF-8 nor GBK"),
    "bad_field": ("字段格式错误", "malformed field"),
    "missing_field": ("缺少字段", "missing field"),
    "bad_flag": ("Flag 错误", "bad Flag"),
    "bad_cn": ("命令编码错误", "bad command code"),
    "bad_value": ("数值错误", "bad value"),
    "bad_time": ("时间格式错误", "bad time"),
    "unknown_mn": ("未登记的设备（MN）", "MN not registered"),
    "empty_mn": ("设备编号（MN）为空", "empty MN"),
    "bad_password": ("访问密码错误", "wrong password (PW)"),
    "incomplete_split": ("分包不完整", "split packet incomplete"),
    "rate_limited": ("超过连接限额", "connection limit exceeded"),
    "dropped": ("超出保存限额，已丢弃（计数）", "over the storage limit, dropped (counted)"),
    "db_error": ("数据库拒收（原始报文已保存）", "refused by the database (raw bytes kept)"),
}


class HJ212Error(InputError):
    """A frame or packet that breaks HJ 212. Never raised for anything but bad input."""

    def __init__(self, reason: str, message: str, *, offset: int | None = None, field: str | None = None,
                 message_en: str | None = None) -> None:
        if reason not in REASONS:
            raise ValueError(f"unknown HJ 212 error reason {reason!r}")
        self.reason = reason
        self.offset = offset
        self.field = field
        super().__init__(message, [InputIssue(message, field=field, offset=offset, message_en=message_en)])

    def __str__(self) -> str:
        where = []
        if self.offset is not None:
            where.append(f"offset {self.offset}")
        if self.field:
            where.append(f"field {self.field}")
        return f"{self.reason}: {self.summary}" + (f" ({', '.join(where)})" if where else "")

    def __reduce__(self):  # keep it picklable despite the dataclass base
        return (_rebuild, (self.reason, self.summary, self.offset, self.field))


def _rebuild(reason: str, message: str, offset: int | None, field: str | None) -> HJ212Error:
    return HJ212Error(reason, message, offset=offset, field=field)


class EmissionsError(CleanheatError):
    """Base of the emissions area's own errors (other than bad input)."""


class LimitTableError(InputError):
    """The limit table is malformed (file, row and field are named)."""


class UnknownPointError(NotFoundError):
    """No monitoring point is registered for this MN."""
