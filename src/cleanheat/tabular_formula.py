"""A small, safe evaluator for the formulas people type into report cells: numbers, ``+ - * /``, parentheses,
cell references on the same sheet and ``SUM`` of references and ranges. Anything else is refused by the caller
(naming the cell), so a formula is never read as zero or as empty."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from decimal import Decimal

from openpyxl.utils import column_index_from_string

_TOKEN = re.compile(r"""
    \s*(?:
      (?P<num>(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?%?)
    | (?P<range>\$?[A-Za-z]{1,3}\$?\d{1,7}:\$?[A-Za-z]{1,3}\$?\d{1,7})
    | (?P<ref>\$?[A-Za-z]{1,3}\$?\d{1,7})(?![\w(!])
    | (?P<func>[A-Za-z][A-Za-z0-9.]*)\s*\(
    | (?P<op>[-+*/(),])
    )""", re.VERBOSE)
_REF = re.compile(r"\$?([A-Za-z]{1,3})\$?(\d{1,7})")


#: A formula's result may be at most 10**15 in size (far beyond any area, count or amount in a report).
MAX_EXPONENT = 15


class FormulaError(ValueError):
    """The formula uses something the evaluator does not know, or cannot be computed."""


def _ref(text: str) -> tuple[int, int]:
    m = _REF.fullmatch(text)
    assert m is not None
    return int(m.group(2)), column_index_from_string(m.group(1).upper())


def tokenize(formula: str) -> list[tuple[str, str]]:
    text = formula[1:] if formula.startswith("=") else formula
    out, pos = [], 0
    while pos < len(text):
        if text[pos:].strip() == "":
            break
        m = _TOKEN.match(text, pos)
        if m is None:
            raise FormulaError(f"不支持的公式内容 (unsupported formula text) “{text[pos:pos + 20]}”")
        kind = m.lastgroup or ""
        out.append((kind, m.group(kind)))
        pos = m.end()
    return out


class Evaluator:
    """Evaluates one formula; ``cell(row, col)`` gives a referenced cell's number (raises for text),
    ``cells_in(r1, c1, r2, c2)`` the numbers of a range (text and empty cells skipped, as Excel's SUM does)."""

    def __init__(self, cell: Callable[[int, int], Decimal],
                 cells_in: Callable[[int, int, int, int], Iterable[Decimal]]) -> None:
        self.cell, self.cells_in = cell, cells_in
        self.tokens: list[tuple[str, str]] = []
        self.i = 0

    def run(self, formula: str) -> Decimal:
        self.tokens, self.i = tokenize(formula), 0
        if not self.tokens:
            raise FormulaError("空公式 (empty formula)")
        try:
            value = self._expr()
        except ArithmeticError as exc:  # division by zero, overflow, invalid operations
            raise FormulaError("无法计算（如除以零）(cannot be computed, e.g. division by zero)") from exc
        if self.i != len(self.tokens):
            raise FormulaError(f"公式无法解析 (cannot parse formula) near “{self.tokens[self.i][1]}”")
        if not value.is_finite() or value.adjusted() > MAX_EXPONENT:
            raise FormulaError(f"结果超出范围 (result out of range: above 1e{MAX_EXPONENT})")
        return value

    def _peek(self) -> tuple[str, str] | None:
        return self.tokens[self.i] if self.i < len(self.tokens) else None

    def _take(self) -> tuple[str, str]:
        tok = self._peek()
        if tok is None:
            raise FormulaError("公式不完整 (incomplete formula)")
        self.i += 1
        return tok

    def _expr(self) -> Decimal:
        value = self._term()
        while (tok := self._peek()) is not None and tok[1] in ("+", "-"):
            self.i += 1
            rhs = self._term()
            value = value + rhs if tok[1] == "+" else value - rhs
        return value

    def _term(self) -> Decimal:
        value = self._unary()
        while (tok := self._peek()) is not None and tok[1] in ("*", "/"):
            self.i += 1
            rhs = self._unary()
            value = value * rhs if tok[1] == "*" else value / rhs
        return value

    def _unary(self) -> Decimal:
        tok = self._peek()
        if tok is not None and tok[1] in ("+", "-"):
            self.i += 1
            value = self._unary()
            return -value if tok[1] == "-" else value
        return self._primary()

    def _primary(self) -> Decimal:
        kind, text = self._take()
        if kind == "num":
            return Decimal(text[:-1]) / 100 if text.endswith("%") else Decimal(text)
        if kind == "ref":
            return self.cell(*_ref(text))
        if kind == "func":
            if text.upper() != "SUM":
                raise FormulaError(f"不支持的函数 {text} (unsupported function; only SUM)")
            return self._sum()
        if text == "(":
            value = self._expr()
            if self._take()[1] != ")":
                raise FormulaError("缺少右括号 (missing ')')")
            return value
        raise FormulaError(f"公式无法解析 (cannot parse formula) near “{text}”")

    def _sum(self) -> Decimal:
        total = Decimal(0)
        while True:
            tok = self._peek()
            if tok is not None and tok[0] == "range":
                self.i += 1
                a, b = tok[1].split(":")
                (r1, c1), (r2, c2) = _ref(a), _ref(b)
                total += sum(self.cells_in(min(r1, r2), min(c1, c2), max(r1, r2), max(c1, c2)), Decimal(0))
            elif tok is not None and tok[1] == ")":
                pass
            else:
                total += self._expr()
            sep = self._take()[1]
            if sep == ")":
                return total
            if sep != ",":
                raise FormulaError(f"公式无法解析 (cannot parse formula) near “{sep}”")
