"""C-STORE SCP (PS3.4 Annex B): the network entrance of the ingest pipeline.

The data set arrives in the store's spool (see :meth:`dgate.store.ingest.Ingest.open_spool`,
the association's sink for C-STORE), then goes through :meth:`Ingest.store`. Every
attempt ends in a log line: ``Written file``, the refusal (``***``), or, when the peer
breaks off, the association's own ``aborted`` line (:mod:`.server`). The status is
0x0000 only when file and row are in place.
"""
from __future__ import annotations

from ..db import DatabaseError
from ..log import printable
from ..store.ingest import IngestContext, StoreFailed
from .association import Message
from .session import AssociationInfo


def store(session: AssociationInfo, msg: Message) -> None:
    session.announce(msg)
    server = session.server
    session.logs.log_user("C-Store", session.calling)
    ctx = IngestContext(session.calling, session.called, session.compression, source="network",
                        peer=session.address, association=session, command=msg.command)
    failed = server.settings.int("StorageFailedErrorCode") or 0x0110
    status = 0x0000
    try:
        db = session.database()
        server.ingest.store(msg.data, db, ctx=ctx)
    except StoreFailed as exc:
        status = exc.status or failed
        if exc.database:
            session.database_failed()
    except DatabaseError as exc:
        session.logs.operator.printf(f"***C-Store of {printable(msg.command.sop_instance)} from {session.who()} "
                                     f"refused: database: {printable(str(exc))}\n")
        session.database_failed()
        status = failed
    finally:
        if msg.data is not None and hasattr(msg.data, "close"):
            msg.data.close()
    session.respond(msg, status)
