"""dBase extracts: ``extract:[where]`` and ``todbf:folder|table|where|sort|max``
(conquest-protocol.md §5.2; ``extract:``/``todbf:`` in ServerTask).

Both copy rows of the Conquest tables, with the columns of dicom.sql plus AccessTime,
qTimeStamp, qFlags, qSpare (and ObjectFile, DeviceName for images), into dBase III files
written by :mod:`dgate.db.dbf`; field lengths follow the column definitions (``int`` → 10).

``extract:`` writes ``XA<patients>.DBF`` (all patients) and, when a condition is given,
``X<table>.DBF`` for the patient, study, series and image tables with the rows matching
it; in the series and image tables ``PatientID`` in the condition names their patient
column (SeriesPat, ImagePat). The files go to the dBase folder itself when the database
is dBase, else to ``<MAG0>dbase/``. The reply is ``0`` (done) or ``1`` (failed).

Conditions and sort orders are checked and bound (:mod:`dgate.db.sqlfilter`); the
original pastes them into the statement.
"""
from __future__ import annotations

import os
import re
from pathlib import Path

from ..db import Database, DatabaseError, dbf
from ..db.schema import Table
from ..db.sqlfilter import UnsafeSQL, rebuild
from ..store.devices import device_root
from . import command
from .context import CommandContext

TRAILER = (("AccessTime", 10), ("qTimeStamp", 10), ("qFlags", 10), ("qSpare", 64))
IMAGE_TRAILER = (("ObjectFile", 255), ("DeviceName", 32))


def _fields(table: Table) -> list[tuple[str, int]]:
    fields = [(e.column, 8 if e.sql_type == "SQL_C_DATE" else max(e.length, 1)) for e in table.entries]
    fields += list(TRAILER)
    if table.level == "image":
        fields += list(IMAGE_TRAILER)
    return fields


def export_table(db: Database, table: Table, folder: Path, name: str, where: str = "", sort: str = "",
                 most: int = 0) -> int:
    """Write the rows of ``table`` matching ``where`` to ``<folder>/<name>.DBF``; the count."""
    fields = _fields(table)
    p = db.driver.text_param
    sql = f"SELECT {', '.join(f for f, _ in fields)} FROM {table.name}"
    params: list = []
    if where.strip():
        cond = rebuild(where, db.schema, p)
        sql += f" WHERE {cond.sql}"
        params += cond.params
    if sort.strip():
        order = rebuild(sort, db.schema, p)
        if order.params:
            raise UnsafeSQL("a sort order takes column names only")
        sql += f" ORDER BY {order.sql}"
    rows = db.driver.query(sql, params)
    if most > 0:
        rows = rows[:most]
    folder.mkdir(parents=True, exist_ok=True)
    out = dbf.table(str(folder), name)
    with out.lock:
        out.create(fields)
        out.records.extend(["" if v is None else str(v) for v in row] for row in rows)
        out.save()
    return len(rows)


def _patient_condition(where: str, table: Table) -> str:
    column = table.patient_column()
    if column is None:
        return where
    return re.sub(r"\bPatientID\b", column.column, where)


def extract(db: Database, folder: Path, where: str, prefix_all: bool = True) -> dict[str, int]:
    """The ``extract:`` files; table file name → rows written."""
    s = db.schema
    written: dict[str, int] = {}
    if prefix_all:
        written[f"XA{s.patient.name}"] = export_table(db, s.patient, folder, f"XA{s.patient.name}")
    if where.strip():
        for level in ("patient", "study", "series", "image"):
            table = s.table(level)
            written[f"X{table.name}"] = export_table(db, table, folder, f"X{table.name}",
                                                     _patient_condition(where, table))
    return written


@command("extract")
def extract_cmd(ctx: CommandContext, args: str) -> str:
    db = ctx.db()
    try:
        if db.driver.kind == "dbase" and args.strip():
            folder = Path(ctx.settings.str("SQLServer"))
            extract(db, folder, args, prefix_all=False)
        else:
            root = device_root(ctx.settings, "MAG0")
            if not root:
                raise OSError("no MAG0 device")
            folder = Path(root) / "dbase"
            extract(db, folder, args)
    except (UnsafeSQL, DatabaseError, OSError) as exc:
        ctx.logs.operator.printf(f"***extract failed: {exc}\n")
        return "1"
    return "0"


@command("todbf")
def todbf(ctx: CommandContext, args: str) -> str:
    folder, table_name, where, sort, most = (args.split("|", 4) + [""] * 5)[:5]
    db = ctx.db()
    table = next((db.schema.table(level) for level in ("patient", "study", "series", "image", "worklist")
                  if db.schema.table(level).name.lower() == table_name.strip().lower()), None)
    if table is None or not folder.strip():
        ctx.logs.operator.printf(f"***todbf: unknown table '{table_name}' or no folder\n")
        return "1"
    try:
        export_table(db, table, Path(os.path.expanduser(folder.strip())), table.name, where, sort,
                     int(most) if most.strip().isdigit() else 0)
    except (UnsafeSQL, DatabaseError, OSError) as exc:
        ctx.logs.operator.printf(f"***todbf failed: {exc}\n")
        return "1"
    return "0"
