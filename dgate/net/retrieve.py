"""C-MOVE and C-GET SCP (PS3.4 Annex C.4.2, C.4.3), with the NKI private retrieve classes.

Both select the stored files with :meth:`dgate.db.Database.stored_files`, read only each
file's meta group first (to know what to propose), then send one object at a time,
streamed from disk (:mod:`.storescu`): memory does not grow with the request. A pending
response with the sub-operation counts follows each object; C-CANCEL is checked between
objects. C-MOVE opens its own association to the destination from acrnema.map; C-GET
sends on the requesting association, on the contexts where the requestor took the SCP
role.

A destination that resolves only through a wildcard row of acrnema.map (``V* * 1234``)
is refused unless ``AllowWildcardMoveDestinations = 1``: otherwise any peer could send
any patient to any host and port by naming it.
"""
from __future__ import annotations

import socket
from dataclasses import dataclass, field
from typing import Any

from pydicom.dataset import Dataset

from ..config.acrnema import Address
from ..db import DatabaseError
from ..log import printable
from ..runtime import counters
from ..store.devices import locate
from ..store.formats import BadObject, Encoded, ObjectFile, object_file
from . import hooks
from .association import Aborted, Closed, Message, ProtocolError, Rejected
from .dimse import MOVE_DESTINATION, status_counts
from .negotiation import NKI_MOVE
from .session import AssociationInfo
from .storescu import WARNINGS, StoreSCU, batches, choose_syntax, offered, payload, send_object

MOVE_MODELS = {
    "1.2.840.10008.5.1.4.1.2.1.2": "PatientRoot", "1.2.840.10008.5.1.4.1.2.2.2": "StudyRoot",
    "1.2.840.10008.5.1.4.1.2.3.2": "PatientStudyOnly",
    **{uid: name.replace("Retrieve", "") for uid, name in NKI_MOVE.items()},
}
GET_MODELS = {
    "1.2.840.10008.5.1.4.1.2.1.3": "PatientRoot", "1.2.840.10008.5.1.4.1.2.2.3": "StudyRoot",
    "1.2.840.10008.5.1.4.1.2.3.3": "PatientStudyOnly",
}
KEYS = (0x00100020, 0x0020000D, 0x0020000E, 0x00080018, 0x00080050)
DESTINATION_UNKNOWN = 0xA801
UNABLE = 0xA702
IDENTIFIER_MISMATCH = 0xA900
REFUSED_BY_CONVERTER = 0xC013
GET_COMPRESSION = "un"          # C-GET: dgate 1.5.0e sends decompressed, Implicit VR LE where accepted
MOVE_SEARCH_FAILED = 0xC004     # Conquest: a C-MOVE whose identifier selects nothing ("move search failed")


@dataclass
class RetrieveContext:
    """What the retrieve hooks get."""

    session: AssociationInfo
    command: Any
    identifier: Dataset
    destination: str = ""
    address: Address | None = None
    as_stored: bool = False                  # NKI private classes: send as stored
    extra: dict = field(default_factory=dict)


@dataclass
class Counts:
    total: int = 0
    completed: int = 0
    failed: int = 0
    warning: int = 0
    failed_uids: list[str] = field(default_factory=list)

    @property
    def remaining(self) -> int:
        return self.total - self.completed - self.failed - self.warning

    def add(self, status: int, uid: str) -> None:
        if status == 0:
            self.completed += 1
        elif status in WARNINGS:
            self.warning += 1
        else:
            self.failed += 1
            self.failed_uids.append(uid)

    def pending(self) -> dict[int, int]:
        return status_counts(self.remaining, self.completed, self.failed, self.warning)

    def final(self) -> dict[int, int]:
        return status_counts(None, self.completed, self.failed, self.warning)


def resolve_destination(session: AssociationInfo, destination: str) -> tuple[Address | None, str]:
    """The acrnema.map address of a C-MOVE destination, or (None, why)."""
    config = session.server.config
    entry = config.amap.match(destination)
    if entry is None:
        return None, f"destination {printable(destination)} is not in acrnema.map"
    if entry.ae.endswith("*") and not session.server.settings.int("AllowWildcardMoveDestinations"):
        return None, (f"destination {printable(destination)} matches only the wildcard row '{entry.ae}' of "
                      "acrnema.map (set AllowWildcardMoveDestinations = 1 to allow)")
    address = config.amap.lookup(destination)
    if address is None:
        return None, f"destination {printable(destination)} is not in acrnema.map"
    try:
        socket.getaddrinfo(address.host, address.port)
    except OSError as exc:
        return None, f"cannot resolve host '{printable(address.host)}' of {printable(destination)}: {exc}"
    return address, ""


def _select(session: AssociationInfo, identifier: Dataset) -> list:
    level = str(identifier.get("QueryRetrieveLevel", "IMAGE")).strip().upper() or "IMAGE"
    keys = Dataset()
    for tag in KEYS:
        if tag in identifier and identifier[tag].value not in (None, ""):
            keys[tag] = identifier[tag]
    if not keys and level != "PATIENT":
        return []
    return session.database().stored_files(keys)


def _selected(session: AssociationInfo, msg: Message, identifier: Dataset, name: str):
    """(rows, objects, counts) the identifier selects (C-MOVE, C-GET); None when the database
    failed (answered 0xA702, the database connection dropped)."""
    counts = Counts()
    try:
        rows = _select(session, identifier)
    except DatabaseError as exc:
        session.logs.operator.printf(f"***{name}: database: {exc}\n")
        session.database_failed()
        session.respond(msg, UNABLE)
        return None
    objects = _objects(session, rows, counts)
    counts.total = len(objects) + counts.failed
    return rows, objects, counts


def _objects(session: AssociationInfo, rows: list, counts: Counts) -> list[ObjectFile]:
    """Meta information of each selected file (unreadable ones count as failed)."""
    settings = session.server.settings
    out = []
    for row in rows:
        path = locate(settings, row.device or "MAG0", row.object_file or "")
        if path is None:
            session.logs.operator.printf(f"***Could not find file: {row.object_file}\n")
            counts.failed += 1
            counts.failed_uids.append(row.sop_uid)
            continue
        try:
            out.append(object_file(path))
        except (OSError, BadObject) as exc:
            session.logs.operator.printf(f"***Could not read {path}: {exc}\n")
            counts.failed += 1
            counts.failed_uids.append(row.sop_uid)
    return out


def _changed_payload(obj: ObjectFile, target: str, ctx: RetrieveContext):
    """RETRIEVE_OBJECT hooks: decode, let them change the object, encode (None: skip it)."""
    converted = hooks.RETRIEVE_PAYLOAD(obj, target, ctx)      # the codec's conversion (NKI expanded, ...)
    if converted is not None:
        ds, syntax = Encoded(b"".join(bytes(c) for c in converted), target).dataset(), target
    else:
        ds, syntax = Encoded(obj.read(), obj.transfer_syntax).dataset(), obj.transfer_syntax
    if not hooks.RETRIEVE_OBJECT.run(ctx.session.logs, ds, ctx):
        return None
    if syntax != target and syntax not in ("1.2.840.10008.1.2", "1.2.840.10008.1.2.1", "1.2.840.10008.1.2.2"):
        ds.decompress(generate_instance_uid=False)
    return [Encoded.from_dataset(ds, target).raw]


REQUESTED_COMPRESSION = 0x99990700


def _requested_compression(command, identifier: Dataset) -> str:
    """(9999,0700) of the C-MOVE command or identifier (Conquest copies it from the
    identifier into the command; conquest-lua-web.md §8.11), '' when absent."""
    value: Any = command.text(REQUESTED_COMPRESSION) if hasattr(command, "text") else ""
    if not value and REQUESTED_COMPRESSION in identifier:
        value = identifier[REQUESTED_COMPRESSION].value
        if isinstance(value, bytes):
            value = value.decode("latin-1", "replace")
    text = str(value or "").strip(" \0")
    return text if text and all(c.isalnum() or c in "#,!" for c in text) and len(text) <= 15 else ""


def _finish(session: AssociationInfo, msg: Message, counts: Counts) -> None:
    if counts.failed:
        failed = Dataset()
        failed.FailedSOPInstanceUIDList = counts.failed_uids or [""]
        session.respond(msg, 0xB000, failed, counts.final())
    else:
        session.respond(msg, 0x0000, None, counts.final())


def _prepare(session: AssociationInfo, msg: Message, what: str) -> tuple[Dataset, RetrieveContext] | None:
    logs = session.logs
    try:
        identifier = session.identifier(msg)
    except BadObject as exc:
        logs.operator.printf(f"***{what}: cannot decode identifier: {printable(str(exc))}\n")
        session.respond(msg, IDENTIFIER_MISMATCH)
        return None
    ctx = RetrieveContext(session, msg.command, identifier, as_stored=msg.command.sop_class in NKI_MOVE)
    if not hooks.RETRIEVE_QUERY.run(logs, identifier, ctx):
        session.respond(msg, REFUSED_BY_CONVERTER)
        return None
    return identifier, ctx


def move(session: AssociationInfo, msg: Message) -> None:
    session.announce(msg)
    logs = session.logs
    logs.log_user("C-Move ", session.calling)
    destination = msg.command.text(MOVE_DESTINATION)
    model = MOVE_MODELS.get(msg.command.sop_class, "StudyRoot")
    logs.operator.printf(f'\tC-Move Destination: "{printable(destination)}"\n')
    logs.operator.printf(f"C-Move ({model})\n")
    counters.add("move")
    prepared = _prepare(session, msg, "C-Move")
    if prepared is None:
        return
    identifier, ctx = prepared
    address, why = resolve_destination(session, destination)
    if address is None:
        logs.operator.printf(f"***C-Move from {session.who()} refused: {why}\n")
        session.respond(msg, DESTINATION_UNKNOWN)
        return
    requested = _requested_compression(msg.command, identifier)
    if requested and not ctx.as_stored:
        # (9999,0700) "recompression for sending" replaces the acrnema.map column (the NKI
        # private classes apply it to their own code: dgate.codec.plugin)
        logs.debug.printf(f"C-Move: compression '{printable(requested)}' requested for sending\n")
        address = address._replace(compression=requested)
    ctx.destination, ctx.address = destination, address
    selected = _selected(session, msg, identifier, "C-Move")
    if selected is None:
        return
    rows, objects, counts = selected
    if not rows:
        logs.operator.printf(f"***C-Move from {session.who()}: the identifier selects no stored object\n")
        session.respond(msg, MOVE_SEARCH_FAILED, None, counts.final())
        return
    if not objects:
        _finish(session, msg, counts)
        return
    originator = (session.calling, msg.command.message_id)
    needs = [(o.sop_class, o.transfer_syntax) for o in objects]
    for group in batches(needs, address.compression, ctx.as_stored):
        part = [o for o in objects if o.sop_class in group]
        outcome = _move_batch(session, msg, ctx, address, part, counts, originator)
        if outcome is not None:
            session.respond(msg, outcome, None, counts.pending())
            return
    if counts.failed:
        logs.operator.printf(f"***C-Move to {printable(destination)}: {counts.failed} of {counts.total} "
                             "object(s) failed\n")
    _finish(session, msg, counts)


def _move_batch(session: AssociationInfo, msg: Message, ctx: RetrieveContext, address: Address,
                objects: list[ObjectFile], counts: Counts, originator: tuple[str, int]) -> int | None:
    """Send ``objects`` over one association to the destination (one of the
    :func:`~dgate.net.storescu.batches` of a C-MOVE); a final status to answer with when the
    move must stop (cancel 0xFE00, no association 0xA702), else None."""
    logs = session.logs
    scu = StoreSCU(session.server.ae_title, address, timeout=session.server.network_timeout(),
                   max_length=session.server.limits().max_length)
    try:
        scu.open({(o.sop_class, o.transfer_syntax) for o in objects}, ctx.as_stored)
    except (Rejected, OSError) as exc:
        logs.operator.printf(f"***C-Move: cannot associate with {printable(ctx.destination)} at "
                             f"{address.host}:{address.port}: {exc}\n")
        return UNABLE
    try:
        for obj in objects:
            if session.assoc.cancelled(msg.command.message_id):
                logs.operator.printf("Cancel request\n")
                return 0xFE00
            status = _send_one(scu, obj, originator, ctx)
            counts.add(status, obj.sop_instance)
            session.respond(msg, 0xFF00, None, counts.pending())
    finally:
        scu.close()
    return None


def _send_one(scu: StoreSCU, obj: ObjectFile, originator: tuple[str, int], ctx: RetrieveContext) -> int:
    logs = ctx.session.logs
    try:
        if hooks.RETRIEVE_OBJECT:
            assert scu.assoc is not None
            syntaxes = offered(scu.assoc.contexts, obj.sop_class)
            target = choose_syntax(obj, syntaxes, scu.address.compression, scu.as_stored, ctx)
            if target is None:
                return -1
            data = _changed_payload(obj, target, ctx)
            if data is None:
                return 0
            status = send_object(scu.assoc, syntaxes[target], obj, data, originator, scu.timeout)
        else:
            status = scu.send(obj, originator, ctx)
    except (OSError, Closed, Aborted, ProtocolError, TimeoutError, BadObject) as exc:
        logs.operator.printf(f"***C-Move: sending {obj.path} failed: {printable(str(exc))}\n")
        return -1
    except Exception as exc:  # decoding/transcoding errors of pydicom and the codecs
        logs.operator.printf(f"***C-Move: cannot convert {obj.path}: {printable(str(exc))}\n")
        return -1
    if status == -1:
        logs.operator.printf(f"***C-Move: {printable(ctx.destination)} accepted no transfer syntax for {obj.path}\n")
    elif status == 0:
        counters.add("sent")
    return status


def get(session: AssociationInfo, msg: Message) -> None:
    session.announce(msg)
    logs = session.logs
    logs.log_user("C-Get ", session.calling)
    model = GET_MODELS.get(msg.command.sop_class, "StudyRoot")
    logs.operator.printf(f"C-Get ({model})\n")
    prepared = _prepare(session, msg, "C-Get")
    if prepared is None:
        return
    identifier, ctx = prepared
    selected = _selected(session, msg, identifier, "C-Get")
    if selected is None:
        return
    rows, objects, counts = selected
    assoc = session.assoc
    scp_classes = {r.sop_class for r in (assoc.accept.roles if assoc.accept else []) if r.scp}
    contexts = {i: pc for i, pc in assoc.contexts.items() if pc.abstract_syntax in scp_classes}
    for obj in objects:
        if assoc.cancelled(msg.command.message_id):
            logs.operator.printf("Cancel request\n")
            session.respond(msg, 0xFE00, None, counts.pending())
            return
        syntaxes = offered(contexts, obj.sop_class)
        status = -1
        try:
            target = choose_syntax(obj, syntaxes, GET_COMPRESSION, ctx.as_stored, ctx)
            if target is None:
                logs.operator.printf(f"***C-Get: no presentation context (SCP role) for {printable(obj.sop_class)}\n")
            else:
                data = _changed_payload(obj, target, ctx) if hooks.RETRIEVE_OBJECT else payload(obj, target, ctx)
                status = 0 if data is None else send_object(assoc, syntaxes[target], obj, data)
                if status == 0 and data is not None:
                    counters.add("sent")
        except (Closed, Aborted, ProtocolError, TimeoutError, OSError):
            raise
        except Exception as exc:  # decoding/transcoding errors of pydicom and the codecs
            logs.operator.printf(f"***C-Get: cannot send {obj.path}: {printable(str(exc))}\n")
        counts.add(status, obj.sop_instance)
        session.respond(msg, 0xFF00, None, counts.pending())
    _finish(session, msg, counts)
