"""The built-in dBase III driver (``SQLServer`` naming a folder; conquest-storage.md §3.4).

Tables are ``<folder><Table>.DBF`` files (:mod:`.dbf`). Statements are evaluated here, the
way the original emulates SQL: only the **first** table of a FROM list is read (hence the
denormalised ``dicom.sql`` for dBase), columns are found by name in it whatever table
qualifies them, conditions on columns the table lacks (joins) are ignored, ``=`` compares
case-insensitively, DROP TABLE and CREATE INDEX do nothing and CREATE TABLE (re)creates an
empty file. Beyond the original, LIKE honours ``_`` and escapes, DT_MSTR/DT_ISTR conditions
work, and DISTINCT, ORDER BY on a column and LIMIT/OFFSET are applied. Values are bound
parameters like on every driver; a statement shape outside this subset is refused with
a clear error.
"""
from __future__ import annotations

import re
from contextlib import contextmanager
from typing import Any, Iterable, Iterator, Sequence

from ..config.keys import Settings
from . import dbf
from .driver import DatabaseError, Driver

_TOKEN = re.compile(r"""\s*(?:
    (?P<string>[Ee]?'(?:[^']|'')*')
  | (?P<number>\d+(?:\.\d+)?)
  | (?P<param>\?)
  | (?P<name>[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)?)
  | (?P<op><=|>=|<>|!=|=|<|>|\(|\)|,|\*|\+)
)""", re.VERBOSE)
_DEF = re.compile(r"^\s*(\w+)\s+(varchar|char|int)\s*(?:\((\d+)\))?", re.IGNORECASE)


class _Expr:
    """A parsed WHERE condition evaluated against one record."""

    def __init__(self, text: str, params: list):
        self.tokens = []
        pos = 0
        text = text.strip()
        while pos < len(text):
            match = _TOKEN.match(text, pos)
            if not match or match.end() == pos:
                raise DatabaseError(f"the dBase driver cannot evaluate '{text[pos:pos + 30]}'")
            pos = match.end()
            kind = match.lastgroup or ""
            self.tokens.append((kind, match.group(kind)))
        self.pos = 0
        self.params = list(params)
        self.tree = self._or() if self.tokens else ("true",)
        if self.pos != len(self.tokens):
            raise DatabaseError(f"the dBase driver cannot evaluate '{text}'")

    # parser
    def _peek(self, value: str | None = None):
        if self.pos < len(self.tokens):
            kind, text = self.tokens[self.pos]
            if value is None or text.lower() == value:
                return kind, text
        return None

    def _take(self, value: str | None = None):
        tok = self._peek(value)
        if tok is None:
            raise DatabaseError(f"the dBase driver expected {value or 'more'} in a condition")
        self.pos += 1
        return tok

    def _or(self):
        node = self._and()
        while self._peek("or"):
            self.pos += 1
            node = ("or", node, self._and())
        return node

    def _and(self):
        node = self._not()
        while self._peek("and"):
            self.pos += 1
            node = ("and", node, self._not())
        return node

    def _not(self):
        if self._peek("not"):
            self.pos += 1
            return ("not", self._not())
        if self._peek("("):
            self.pos += 1
            node = self._or()
            self._take(")")
            return node
        return self._predicate()

    def _operand(self):
        kind, text = self._take()
        if kind == "param":
            return ("value", self.params.pop(0))
        if kind == "string":
            body = text[2:-1] if text[0] in "Ee" else text[1:-1]
            return ("value", body.replace("''", "'"))
        if kind == "number":
            return ("value", text)
        if kind == "name" and text.lower() == "upper" and self._peek("("):
            self.pos += 1
            inner = self._operand()
            self._take(")")
            return ("upper", inner)
        if kind == "name":
            return ("column", text.split(".")[-1])
        raise DatabaseError(f"the dBase driver cannot use '{text}' in a condition")

    def _predicate(self):
        left = self._operand()
        if self._peek("like"):
            self.pos += 1
            pattern = self._operand()
            escape = None
            if self._peek("escape"):
                self.pos += 1
                escape = self._operand()
            return ("like", left, pattern, escape)
        if self._peek("in"):
            self.pos += 1
            self._take("(")
            items = [self._operand()]
            while self._peek(","):
                self.pos += 1
                items.append(self._operand())
            self._take(")")
            return ("in", left, items)
        if self._peek("is"):
            self.pos += 1
            negate = bool(self._peek("not")) and bool(self._take("not"))
            self._take("null")
            return ("null", left, negate)
        kind, op = self._take()
        if kind != "op" or op not in ("=", "<>", "!=", "<", ">", "<=", ">="):
            raise DatabaseError(f"the dBase driver cannot use operator '{op}'")
        return ("cmp", op, left, self._operand())

    # evaluation: None means "column not in this table" → the condition is ignored
    @staticmethod
    def _value(node, table: dbf.DbfTable, record: list[str]):
        if node[0] == "value":
            return str(node[1])
        if node[0] == "upper":
            inner = _Expr._value(node[1], table, record)
            return None if inner is None else inner.upper()
        index = table.field_index(node[1])
        return None if index is None else record[index]

    def matches(self, table: dbf.DbfTable, record: list[str], node=None) -> bool:
        node = node or self.tree
        kind = node[0]
        if kind == "true":
            return True
        if kind == "or":
            return self.matches(table, record, node[1]) or self.matches(table, record, node[2])
        if kind == "and":
            return self.matches(table, record, node[1]) and self.matches(table, record, node[2])
        if kind == "not":
            return not self.matches(table, record, node[1])
        if kind == "cmp":
            _, op, a, b = node
            left, right = self._value(a, table, record), self._value(b, table, record)
            if left is None or right is None or (a[0] == "column" and b[0] == "column"):
                return True
            if op == "=":
                return left.lower() == right.lower()
            if op in ("<>", "!="):
                return left.lower() != right.lower()
            return {"<": left < right, ">": left > right, "<=": left <= right, ">=": left >= right}[op]
        if kind == "like":
            _, a, pattern, escape = node
            value = self._value(a, table, record)
            if value is None:
                return True
            esc = self._value(escape, table, record) if escape else None
            return _like(self._value(pattern, table, record), esc).fullmatch(value) is not None
        if kind == "in":
            value = self._value(node[1], table, record)
            if value is None:
                return True
            return value.lower() in {self._value(i, table, record).lower() for i in node[2]}
        if kind == "null":
            value = self._value(node[1], table, record)
            return True if value is None else ((value == "") != node[2])
        raise DatabaseError(f"unknown condition {kind}")

    def equality_on(self, table: dbf.DbfTable) -> tuple[int, str] | None:
        """An ``indexed column = value`` factor of the top-level AND chain, for the index."""
        stack: list[Any] = [self.tree]
        while stack:
            node = stack.pop()
            if node[0] == "and":
                stack += [node[1], node[2]]
            elif node[0] == "cmp" and node[1] == "=" and node[2][0] == "column" and node[3][0] == "value":
                field = table.field_index(node[2][1])
                if field is not None and field in table.indexed_fields():
                    return field, str(node[3][1])
        return None


def _like(pattern: str, escape: str | None) -> "re.Pattern[str]":
    out, i = [], 0
    while i < len(pattern):
        ch = pattern[i]
        if escape and ch == escape and i + 1 < len(pattern):
            out.append(re.escape(pattern[i + 1]))
            i += 2
            continue
        out.append(".*" if ch == "%" else "." if ch == "_" else re.escape(ch))
        i += 1
    return re.compile("".join(out), re.IGNORECASE | re.DOTALL)


class DBaseDriver(Driver):
    label = "built-in Dbase driver"
    kind = "dbase"
    implicit_name_sort = False      # the original's dBase driver returns file order; a sort that
    #                                 is asked for (9999,0c00 or a *QuerySortOrder key) is applied

    def __init__(self, settings: Settings):
        self.folder = settings.str("SQLServer")
        import os
        if not os.path.isdir(self.folder):
            raise DatabaseError(f"***dBase folder {self.folder} does not exist")
        if settings.int("PackDBF"):
            for name in os.listdir(self.folder):
                if name.lower().endswith(".dbf") and not name.lower().startswith("x"):
                    self.table(name[:-4]).pack()

    def table(self, name: str) -> dbf.DbfTable:
        return dbf.table(self.folder, name)

    @contextmanager
    def transaction(self) -> Iterator[None]:
        yield

    def _run(self, sql: str, params: Sequence[Any], fetch: bool):
        text = sql.strip()
        head = text[:12].upper()
        params = [("" if p is None else str(p)) for p in params]
        try:
            if head.startswith("CREATE TABLE"):
                return self._create(text)
            if head.startswith("CREATE INDEX") or head.startswith("DROP TABLE"):
                return 0
            if head.startswith("INSERT INTO"):
                return self._insert(text, params)
            if head.startswith("UPDATE"):
                return self._update(text, params)
            if head.startswith("DELETE FROM"):
                return self._delete(text, params)
            if head.startswith("SELECT"):
                return self._select(text, params)
        except (OSError, ValueError) as exc:
            raise DatabaseError(f"dBase: {exc} in: {sql}") from exc
        raise DatabaseError(f"the dBase driver does not support: {sql}")

    def _create(self, text: str) -> int:
        match = re.match(r"CREATE TABLE\s+(\w+)\s*\((.*)\)\s*$", text, re.IGNORECASE | re.DOTALL)
        if not match:
            raise DatabaseError(f"cannot read CREATE TABLE: {text}")
        fields = []
        for definition in match.group(2).split(","):
            d = _DEF.match(definition)
            if not d:
                raise DatabaseError(f"cannot map column definition '{definition.strip()}' to dBase")
            length = 10 if d.group(2).lower() == "int" else int(d.group(3) or 10)
            fields.append((d.group(1), length))
        table = self.table(match.group(1))
        with table.lock:
            table.create(fields)
        return 0

    def _rows(self, table: dbf.DbfTable, where: _Expr) -> list[int]:
        found = where.equality_on(table)
        if found is not None:
            field, value = found
            candidates: Iterable[int] = sorted((table.index(field) or {}).get(value.lower(), ()))
        else:
            candidates = range(len(table.records))
        return [n for n in candidates if (record := table.records[n]) is not None and where.matches(table, record)]

    def _insert(self, text: str, params: list) -> int:
        match = re.match(r"INSERT INTO\s+(\w+)\s*\(([^)]*)\)\s*VALUES\s*\((.*)\)\s*$", text, re.IGNORECASE | re.DOTALL)
        if not match:
            raise DatabaseError(f"cannot read INSERT: {text}")
        table = self.table(match.group(1))
        columns = [c.strip() for c in match.group(2).split(",")]
        values = _Expr("", [])
        values.params = params
        items = []
        for token in _split_top(match.group(3)):
            values.tokens = [(m.lastgroup or "", m.group(m.lastgroup or 0)) for m in _TOKEN.finditer(token.strip())]
            values.pos = 0
            items.append(str(values._operand()[1]))
        with table.lock:
            if not table.fields:
                raise DatabaseError(f"dBase table {match.group(1)} does not exist")
            record = [""] * len(table.fields)
            for column, value in zip(columns, items):
                index = table.field_index(column)
                if index is not None:
                    record[index] = value
            table.append_one(record)
        return 1

    def _update(self, text: str, params: list) -> int:
        match = re.match(r"UPDATE\s+(\w+)\s+SET\s+(.*?)\s+WHERE\s+(.*)$", text, re.IGNORECASE | re.DOTALL)
        if not match:
            raise DatabaseError(f"cannot read UPDATE: {text}")
        table = self.table(match.group(1))
        sets = _split_top(match.group(2))
        set_params, where_params = params[:len(sets)], params[len(sets):]
        assignments = []
        for item, value in zip(sets, set_params):
            column = item.split("=", 1)[0].strip()
            assignments.append((table.field_index(column), value))
        where = _Expr(match.group(3), where_params)
        with table.lock:
            rows = self._rows(table, where)
            for n in rows:
                record = table.records[n]
                for index, value in assignments:
                    if index is not None and record is not None:
                        record[index] = value
                table.rewrite_one(n)
            if rows:
                table.reindex()
        return len(rows)

    def _delete(self, text: str, params: list) -> int:
        match = re.match(r"DELETE FROM\s+(\w+)(?:\s+WHERE\s+(.*))?$", text, re.IGNORECASE | re.DOTALL)
        if not match:
            raise DatabaseError(f"cannot read DELETE: {text}")
        table = self.table(match.group(1))
        where = _Expr(match.group(2) or "", params)
        with table.lock:
            rows = self._rows(table, where)
            for n in rows:
                table.delete(n)
            if rows:
                table.reindex()
        return len(rows)

    def _select(self, text: str, params: list) -> list[tuple]:
        match = re.match(r"SELECT\s+(DISTINCT\s+)?(.*?)\s+FROM\s+([\w\s,]+?)(?:\s+WHERE\s+(.*?))?"
                         r"(?:\s+ORDER BY\s+(.*?))?(?:\s+LIMIT\s+(\d+)(?:\s+OFFSET\s+(\d+))?)?\s*$",
                         text, re.IGNORECASE | re.DOTALL)
        if not match:
            raise DatabaseError(f"cannot read SELECT: {text}")
        distinct, columns, tables, where_text, order, limit, offset = match.groups()
        table = self.table(tables.split(",")[0].strip())
        items = _split_top(columns)
        with table.lock:
            rows = self._rows(table, _Expr(where_text or "", params))
            if len(items) == 1 and re.fullmatch(r"COUNT\s*\(\s*(1|\*)\s*\)", items[0].strip(), re.IGNORECASE):
                return [(len(rows),)]
            records = [record for n in rows if (record := table.records[n]) is not None]
        if order:
            key = order.strip().strip("()")
            numeric = key.endswith("+0")
            index = table.field_index(key.replace("+0", "").split(".")[-1].strip())
            if index is not None:
                records.sort(key=lambda r: (_number(r[index]) if numeric else r[index]))
        indexes = [table.field_index(item.strip().split(".")[-1]) if re.fullmatch(r"[\w.]+", item.strip())
                   else None for item in items]
        result = [tuple((r[i] if i is not None else "") for i in indexes) for r in records]
        if distinct:
            result = list(dict.fromkeys(result))
        start = int(offset or 0)
        return result[start:start + int(limit)] if limit else result[start:]

    def pack(self) -> None:
        import os
        for name in os.listdir(self.folder):
            if name.lower().endswith(".dbf") and not name.lower().startswith("x"):
                self.table(name[:-4]).pack()


def _number(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        return 0.0


def _split_top(text: str) -> list[str]:
    """Split on commas outside parentheses and quotes."""
    parts: list[str] = []
    current: list[str] = []
    depth, quote = 0, False
    for ch in text:
        if ch == "'":
            quote = not quote
        elif not quote and ch == "(":
            depth += 1
        elif not quote and ch == ")":
            depth -= 1
        if ch == "," and depth == 0 and not quote:
            parts.append("".join(current))
            current = []
        else:
            current.append(ch)
    if "".join(current).strip():
        parts.append("".join(current))
    return parts
