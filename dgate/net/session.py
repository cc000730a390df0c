"""State of one served association, shared by the service handlers and the hooks.

:class:`AssociationInfo` is what converters and Lua see as ``Association`` (calling and
called AE, peer address, thread number) and what handlers use to answer: it prints the
association header the way dgate does at the first non-silent message (conquest-protocol
§9.3), owns the association's database connection (opened on first use, returned to the
pool by the association's own thread at the end), and builds responses.
"""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pydicom.dataset import Dataset

from ..db import Database, DatabaseError, open_database
from ..log import printable
from ..runtime import counters
from ..store.formats import BadObject, Encoded
from .association import Association, Message
from .dimse import COMMAND_NAMES, response_fields

if TYPE_CHECKING:
    from .server import DicomServer

SILENT = 0x99990400


class DatabasePool:
    """Idle database connections of this process, handed to one association at a time."""

    def __init__(self, config, logs, own_ae: str, keep: int = 8):
        self.config, self.logs, self.own_ae, self.keep = config, logs, own_ae, keep
        self._idle: list[Database] = []
        self._lock = threading.Lock()

    def get(self) -> Database:
        with self._lock:
            if self._idle:
                return self._idle.pop()
        return open_database(self.config, self.logs, own_ae=self.own_ae)

    def put(self, db: Database, broken: bool = False) -> None:
        with self._lock:
            if not broken and len(self._idle) < self.keep:
                self._idle.append(db)
                return
        try:
            db.close()
        except Exception:
            pass

    def close_all(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
        for db in idle:
            try:
                db.close()
            except Exception:
                pass


@dataclass
class AssociationInfo:
    """One association as the server, converters and Lua see it."""

    server: "DicomServer"
    assoc: Association
    number: int
    started: float = field(default_factory=time.time)
    calling: str = ""
    called: str = ""
    compression: str | None = None
    announced: bool = False
    extra: dict = field(default_factory=dict)       # per-association state of plug-ins (Lua, converters)
    _db: Database | None = None
    _db_broken: bool = False

    @property
    def address(self) -> str:
        """The peer's IP address (``Association.ConnectedIP``)."""
        return self.assoc.peer[0]

    @property
    def logs(self):
        return self.server.logs

    def who(self) -> str:
        return f"{printable(self.calling) or '?'} ({self.address})"

    # -- database ----------------------------------------------------------------------
    def database(self) -> Database:
        """This association's database connection (raises DatabaseError when it cannot open)."""
        if self._db is None:
            self._db = self.server.pool.get()
            self._db_broken = False
        return self._db

    def database_failed(self) -> None:
        """The connection gave an error: do not give it back to the pool."""
        self._db_broken = True
        if self._db is not None:
            self.server.pool.put(self._db, broken=True)
            self._db = None

    def release_database(self) -> None:
        if self._db is not None:
            self.server.pool.put(self._db, self._db_broken)
            self._db = None

    # -- logging -----------------------------------------------------------------------
    def announce(self, msg: Message) -> bool:
        """Print the association header once, at the first non-silent message, and the
        debug lines of each message; False for silent (server-command) messages."""
        command = msg.command
        if SILENT in command.elements:
            return False
        if not self.announced:
            self.announced = True
            rq = self.assoc.request
            assert rq is not None
            soplist = self.server.soplist.current
            lines = [f"\nUPACS THREAD {self.number}: STARTED AT: {time.ctime(self.started)}\n",
                     f'\tCalling Application Title : "{printable(self.calling):<16}"\n',
                     f'\tCalled Application Title : "{printable(self.called):<16}"\n',
                     f'\tApplication Context : "{printable(rq.application_context)}", PDU length: '
                     f'{rq.max_length}\n']
            for i, pc in enumerate(rq.contexts):
                lines.append(f'\tPresentation Context {i} "{printable(pc.abstract_syntax)}" '
                             f'{int(soplist.accepts_sop(pc.abstract_syntax))}\n')
            self.logs.operator.printf("".join(lines))
        counters.add("associations")
        if self.logs.debug.on:
            self.logs.debug.printf(f"Server Command   := {command.field:04x}\n"
                                   f"Message ID       := {command.message_id:04x}\n")
        return True

    def end(self) -> None:
        if self.announced:
            now = time.time()
            self.logs.operator.printf(f"UPACS THREAD {self.number}: ENDED AT: {time.ctime(now)}\n"
                                      f"UPACS THREAD {self.number}: TOTAL RUNNING TIME: "
                                      f"{int(now - self.started)} SECONDS\n")
            self.announced = False

    # -- answering ---------------------------------------------------------------------
    def respond(self, msg: Message, status: int, data: Dataset | bytes | None = None,
                extra: dict[int, Any] | None = None) -> None:
        """Send the response to ``msg`` (its command field with bit 15 set)."""
        payload = encode_dataset(data, msg.transfer_syntax) if isinstance(data, Dataset) else data
        fields = response_fields(msg.command, msg.command.field | 0x8000, status, extra, payload is not None)
        self.assoc.send_message(msg.context_id, fields, payload)

    def identifier(self, msg: Message) -> Dataset:
        """The message's data set decoded (raises BadObject)."""
        if msg.data is None:
            raise BadObject(f"{COMMAND_NAMES.get(msg.command.field, 'request')} without an identifier")
        return decode_dataset(msg.data, msg.transfer_syntax)


def decode_dataset(data: bytes, transfer_syntax: str) -> Dataset:
    ds = Encoded(bytes(data), transfer_syntax).dataset()
    del ds.file_meta
    return ds


def encode_dataset(ds: Dataset, transfer_syntax: str) -> bytes:
    return Encoded.from_dataset(ds, transfer_syntax).raw


__all__ = ["AssociationInfo", "DatabaseError", "DatabasePool", "decode_dataset", "encode_dataset"]
