"""C-FIND SCP (PS3.4 Annex C, K): patient root, study root, patient/study only, worklist.

The identifier goes through the :data:`~dgate.net.hooks.FIND_QUERY` hooks
(QueryConverter0, Lua), the database answers (:meth:`dgate.db.Database.find`,
:meth:`~dgate.db.Database.find_worklist` with the worklist converters of
:data:`~dgate.net.hooks.WORKLIST_CONVERTERS`), each record through
:data:`~dgate.net.hooks.FIND_RESULT`; records are sent as pending responses, checking
for C-CANCEL between them. Log line as dgate: ``C-Find (StudyRoot) located N records``.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydicom.dataset import Dataset

from ..db import DatabaseError
from ..db.worklist import WorklistRefused
from ..log import printable
from ..runtime import counters
from ..store.formats import BadObject
from . import hooks
from .association import Message
from .session import AssociationInfo

FIND_MODELS = {
    "1.2.840.10008.5.1.4.1.2.1.1": ("PatientRoot", ("PATIENT", "STUDY", "SERIES", "IMAGE")),
    "1.2.840.10008.5.1.4.1.2.2.1": ("StudyRoot", ("STUDY", "SERIES", "IMAGE")),
    "1.2.840.10008.5.1.4.1.2.3.1": ("PatientStudyOnly", ("PATIENT", "STUDY")),
    "1.2.840.10008.5.1.4.31": ("Modality Work List", ()),
}
WORKLIST = "Modality Work List"


@dataclass
class QueryContext:
    """What the C-FIND hooks get."""

    session: AssociationInfo
    command: Any
    model: str
    level: str | None


def find(session: AssociationInfo, msg: Message) -> None:
    session.announce(msg)
    logs = session.logs
    model, levels = FIND_MODELS.get(msg.command.sop_class, ("Unknown", ()))
    counters.add("find")
    try:
        identifier = session.identifier(msg)
    except BadObject as exc:
        logs.operator.printf(f"***C-Find: cannot decode identifier: {printable(str(exc))}\n")
        session.respond(msg, 0xA900)
        return
    level = None
    if model != WORKLIST:
        level = str(identifier.get("QueryRetrieveLevel", "")).strip().upper()
        if level not in levels:
            logs.operator.printf(f"***C-Find ({model}): level '{printable(level)}' is not supported\n")
            session.respond(msg, 0xA900)
            return
    ctx = QueryContext(session, msg.command, model, level)
    if not hooks.FIND_QUERY.run(logs, identifier, ctx):
        session.respond(msg, 0xC011)
        return
    try:
        db = session.database()
        if level is None:
            query_hook, result_hook = hooks.WORKLIST_CONVERTERS(ctx) or (None, None)
            results: list[Dataset] = db.find_worklist(identifier, query_hook, result_hook)
        else:
            results = db.find(level, identifier)
            if hooks.FIND_MERGE.fn is not None:
                merged = hooks.FIND_MERGE(level, identifier, results, ctx)
                results = results if merged is None else merged
    except WorklistRefused as exc:
        session.respond(msg, exc.status)
        return
    except DatabaseError as exc:
        logs.operator.printf(f"***C-Find ({model}) failed: {exc}\n")
        session.database_failed()
        session.respond(msg, 0xA700)
        return
    logs.operator.printf(f"C-Find ({model}) located {len(results)} records\n")
    for result in results:
        if session.assoc.cancelled(msg.command.message_id):
            logs.operator.printf("Cancel request\n")
            session.respond(msg, 0xFE00)
            return
        if level is not None:
            result.QueryRetrieveLevel = level
        if hooks.FIND_RESULT and not hooks.FIND_RESULT.run(logs, result, ctx):
            continue
        session.respond(msg, 0xFF00, result)
    session.respond(msg, 0x0000)
