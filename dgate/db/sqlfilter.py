"""Safe handling of the SQL fragments that ``query:``, ``query2:``, ``addrecord:`` and
``deleterecord:`` take from the network (conquest-protocol.md §5.2).

The original pastes these fragments into statements. Here a fragment is tokenised and
rebuilt: identifiers must name a Conquest table or column (optionally ``table.column``),
keywords and operators come from a fixed list, and every literal becomes a bound
parameter. Anything else (``;``, comments, unknown names, sub-selects) is refused with
an error that names the offending token.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from .schema import Schema

KEYWORDS = {"and", "or", "not", "like", "in", "is", "null", "between", "escape", "distinct", "asc", "desc",
            "count", "upper", "lower", "max", "min", "sum", "avg", "as", "cast", "integer", "char"}
EXTRA_COLUMNS = ("AccessTime", "qTimeStamp", "qFlags", "qSpare", "ObjectFile", "DeviceName")
_TOKEN = re.compile(r"""
    (?P<space>\s+)
  | (?P<string>[Ee]?'(?:[^']|'')*')
  | (?P<number>\d+(?:\.\d+)?)
  | (?P<name>[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)?)
  | (?P<op><=|>=|<>|!=|=|<|>|\(|\)|,|\*|\+|-|\|\|)
""", re.VERBOSE)


class UnsafeSQL(ValueError):
    """A fragment that cannot be rebuilt safely."""


@dataclass
class Fragment:
    sql: str
    params: list


def known_names(schema: Schema) -> tuple[set[str], set[str]]:
    tables = {schema.table(level).name.lower() for level in ("patient", "study", "series", "image", "worklist")}
    tables.add("uidmods")
    columns = {e.column.lower() for level in ("patient", "study", "series", "image", "worklist")
               for e in schema.table(level).entries}
    columns |= {c.lower() for c in EXTRA_COLUMNS} | {"modtime", "olduid", "modtype", "newuid", "stage",
                                                       "annotation"}
    return tables, columns


def rebuild(text: str, schema: Schema, placeholder: str) -> Fragment:
    """Validate a fragment and return it with literals as bound parameters."""
    tables, columns = known_names(schema)
    out: list[str] = []
    params: list = []
    pos = 0
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if not match:
            raise UnsafeSQL(f"unexpected text at '{text[pos:pos + 20]}'")
        pos = match.end()
        kind = match.lastgroup
        token = match.group()
        if kind == "space":
            continue
        if kind == "string":
            body = token[2:-1] if token[0] in "Ee" else token[1:-1]
            params.append(body.replace("''", "'"))
            out.append(placeholder)
        elif kind == "number":
            out.append(token)
        elif kind == "name":
            lower = token.lower()
            if "." in lower:
                table, column = lower.split(".", 1)
                if table not in tables or column not in columns:
                    raise UnsafeSQL(f"unknown column '{token}'")
            elif lower not in columns and lower not in tables and lower not in KEYWORDS:
                raise UnsafeSQL(f"unknown name '{token}'")
            out.append(token)
        else:
            out.append(token)
    return Fragment(" ".join(out), params)


def table_list(text: str, schema: Schema) -> str:
    """A comma-separated list of known table names."""
    tables, _ = known_names(schema)
    names = [t.strip() for t in text.split(",") if t.strip()]
    if not names:
        raise UnsafeSQL("no table given")
    for name in names:
        if name.lower() not in tables:
            raise UnsafeSQL(f"unknown table '{name}'")
    return ", ".join(names)
