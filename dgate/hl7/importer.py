"""HL7 orders into the modality worklist table (``ProcessHL7Data``, conquest-storage.md §7).

For every item of a message, every WorkList column of dicom.sql whose 7th field (the HL7
tag) equals the item's tag exactly gets the item's value, cut to the column's length.
At the end of the message, columns tagged ``*AN`` get the last 16 characters of a new
UID and ``*UI`` a new UID (any other ``*`` tag an empty value); columns with no item stay
NULL, an empty HL7 field gives ``''``. One row is inserted per message.

Beyond the original: values are bound parameters (an apostrophe is stored as is; the
original pastes values into the statement and turns ``'`` into ``_``); when a tag occurs
twice in a message (two OBR segments) the first value is kept, where the original writes
the column twice and the insert fails; the messages of one file or MLLP frame are
written in one transaction and a malformed message is reported with its line and writes
nothing.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..db import Database
from ..log import Logs
from ..log import logs as process_logs
from ..uids import gen_uid
from .parser import HL7Error, Message, parse


@dataclass
class ImportResult:
    messages: list[Message]
    rows: list[dict[str, str]]


def message_row(db: Database, message: Message) -> dict[str, str]:
    """The worklist column values of one message (column name → value)."""
    entries = db.schema.worklist.entries
    row: dict[str, str] = {}
    for item in message.items:
        for entry in entries:
            if entry.hl7 == item.tag and entry.column not in row:
                row[entry.column] = item.value[:entry.length] if entry.length > 0 else item.value
    prefix = db.settings.str("UIDPrefix")
    for entry in entries:
        if entry.hl7.startswith("*") and entry.column not in row:
            value = ""
            if entry.hl7 == "*AN":
                value = gen_uid(prefix)[-16:]
            elif entry.hl7 == "*UI":
                value = gen_uid(prefix)
            row[entry.column] = value[:entry.length] if entry.length > 0 else value
    if not row:
        raise HL7Error(message.line, "message fills no worklist column (check the HL7 tags in dicom.sql)")
    return row


def import_text(db: Database, text: str, logs: Logs | None = None, source: str = "HL7") -> ImportResult:
    """Parse ``text`` and insert one worklist row per message, all or nothing."""
    log = logs or process_logs
    messages = parse(text)
    rows = [message_row(db, message) for message in messages]
    table = db.schema.worklist.name
    p = db.driver.text_param
    with db.driver.transaction():
        for row in rows:
            columns = ",".join(row)
            db.driver.execute(f"INSERT INTO {table} ({columns}) VALUES ({', '.join([p] * len(row))})",
                              list(row.values()))
            log.debug.printf(f"Entering modality worklist fields: {columns}\n")
    return ImportResult(messages, rows)


def import_file(path: str | Path, db: Database, logs: Logs | None = None) -> ImportResult:
    """Load a ``.hl7`` file into the worklist (``--loadhl7:``, AddImageFile, incoming folder).

    Raises :class:`HL7Error` (with the file name in the text) for a malformed file and
    ``OSError`` when it cannot be read; nothing is written then.
    """
    data = Path(path).read_bytes()
    if not data:
        raise HL7Error(1, f"{path}: empty HL7 file")
    try:
        return import_text(db, data.decode("latin-1"), logs, str(path))
    except HL7Error as exc:
        raise HL7Error(exc.line, f"{path}: {exc.reason}") from exc


def add_hl7_file(path: str | Path, db: Database, logs: Logs | None = None) -> ImportResult:
    """The AddImageFile / incoming-folder entrance for a ``*.hl7`` file (dgate.cpp:3550).

    Logs ``[AddImageFile] loaded HL7 file: <path>`` as the original and returns the result.
    Raises :class:`HL7Error` for a malformed file (retrying cannot help: set it aside),
    ``OSError`` when it cannot be read and ``DatabaseError`` when the insert failed (both
    worth a retry); nothing is written in any of these cases.
    """
    log = logs or process_logs
    if not Path(path).stat().st_size:
        log.operator.printf(f"*** [AddImageFile] could not open HL7 file: {path}\n")
        raise HL7Error(1, f"{path}: empty HL7 file")
    result = import_file(path, db, log)
    log.operator.printf(f"[AddImageFile] loaded HL7 file: {path}\n")
    return result
