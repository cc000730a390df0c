"""A lean C-STORE SCU: sends stored objects as they are on disk (PS3.4 Annex B, PS3.7 §9.1.1).

Used by C-MOVE sub-operations (its own association to the destination), C-GET
sub-operations (on the requesting association) and, later, forwarding. Objects are
described by :class:`~dgate.store.formats.ObjectFile` (meta read only) and streamed from
disk one block at a time, so sending a patient never loads it into memory. No pydicom
decode unless the destination needs another transfer syntax than the stored one:

* Explicit VR LE → Implicit VR LE is a lean rewrite of the element headers
  (:func:`dgate.store.scan.to_implicit`);
* anything else goes through pydicom (decompression, byte order).

Proposal (:func:`proposal`), as dgate 1.5.0e where it matters: for a destination with
compression ``un`` (``u…``) each SOP class gets a context offering Implicit VR Little
Endian and one offering Explicit VR LE (the original offers implicit only); implicit is
sent where it was accepted. Other codes offer each stored compressed syntax, then an
uncompressed fallback context with both. More SOP classes than fit in 128 contexts are
split over several associations (:func:`batches`). The codec plug-in
(:mod:`dgate.codec.plugin`) replaces all three choices
after the acrnema.map column (:data:`dgate.net.hooks.RETRIEVE_PROPOSAL`,
:data:`~dgate.net.hooks.RETRIEVE_SYNTAX`, :data:`~dgate.net.hooks.RETRIEVE_PAYLOAD`).
"""
from __future__ import annotations

import mmap
from typing import Any, Iterable

from ..config.acrnema import Address
from ..store.formats import EXPLICIT_BE, EXPLICIT_LE, IMPLICIT_LE, UNCOMPRESSED, Encoded, ObjectFile
from ..store.scan import to_implicit
from . import hooks, pdu
from .association import Association, Limits
from .dimse import C_STORE_RQ, MOVE_ORIGINATOR_AE, MOVE_ORIGINATOR_ID, PRIORITY, request_fields
from .negotiation import IMPLEMENTATION_UID, IMPLEMENTATION_VERSION

MAX_CONTEXTS = 128
SMALL = 4 << 20
WARNINGS = {0x0001, 0xB000, 0xB006, 0xB007}


def _class_contexts(sop: str, syntaxes: set[str], code: str, as_stored: bool) -> list[list[str]]:
    """The transfer-syntax lists (one per presentation context) proposed for one SOP class."""
    custom = hooks.RETRIEVE_PROPOSAL(sop, syntaxes, code, as_stored)
    if custom is not None:
        return [[ts] if isinstance(ts, str) else list(ts) for ts in custom]
    if code.lower().startswith("u") and not as_stored:
        return [[IMPLICIT_LE], [EXPLICIT_LE]]
    return [[ts] for ts in sorted(syntaxes - UNCOMPRESSED)] + [[EXPLICIT_LE, IMPLICIT_LE]]


def _by_class(needs: Iterable[tuple[str, str]]) -> dict[str, set[str]]:
    by_class: dict[str, set[str]] = {}
    for sop, ts in needs:
        by_class.setdefault(sop, set()).add(ts)
    return by_class


def batches(needs: Iterable[tuple[str, str]], code: str, as_stored: bool = False) -> list[set[str]]:
    """The SOP classes of ``needs`` split into groups whose proposal fits one association
    (at most :data:`MAX_CONTEXTS` presentation contexts, PS3.8 §9.3.2.2: odd IDs 1..255), in
    first-seen order; a C-MOVE sends each group over its own association."""
    out: list[set[str]] = []
    used = MAX_CONTEXTS
    for sop, syntaxes in _by_class(needs).items():
        n = min(len(_class_contexts(sop, syntaxes, code, as_stored)), MAX_CONTEXTS)
        if used + n > MAX_CONTEXTS:
            out.append(set())
            used = 0
        out[-1].add(sop)
        used += n
    return out


def proposal(needs: Iterable[tuple[str, str]], code: str, as_stored: bool = False) -> list[pdu.ProposedContext]:
    """Presentation contexts for objects of these (SOP class, stored transfer syntax): for
    each SOP class the contexts of the codec's proposal (:data:`dgate.net.hooks.RETRIEVE_PROPOSAL`,
    several transfer syntaxes per context where the acrnema.map column allows it), at most
    :data:`MAX_CONTEXTS` (split larger sets with :func:`batches`)."""
    contexts: list[pdu.ProposedContext] = []
    for sop, syntaxes in _by_class(needs).items():
        for group in _class_contexts(sop, syntaxes, code, as_stored):
            if len(contexts) < MAX_CONTEXTS:
                contexts.append(pdu.ProposedContext(2 * len(contexts) + 1, sop, group))
    return contexts


def offered(contexts: dict[int, pdu.AcceptedContext], sop_class: str) -> dict[str, int]:
    """Accepted transfer syntax → context ID for one SOP class."""
    out: dict[str, int] = {}
    for pc_id, pc in sorted(contexts.items()):
        if pc.abstract_syntax == sop_class and pc.result == pdu.ACCEPTANCE:
            out.setdefault(pc.transfer_syntax, pc_id)
    return out


def choose_syntax(obj: ObjectFile, syntaxes: dict[str, int], code: str, as_stored: bool = False,
                  ctx: Any = None) -> str | None:
    """The transfer syntax to send ``obj`` in, or None when nothing offered will do."""
    chosen = hooks.RETRIEVE_SYNTAX(obj, syntaxes, code, ctx)
    if chosen is not None:
        return chosen if chosen in syntaxes else None
    stored = obj.transfer_syntax
    if code.lower().startswith("u") and not as_stored:
        for ts in (IMPLICIT_LE, EXPLICIT_LE):
            if ts in syntaxes:
                return ts
    if stored in syntaxes:
        return stored
    for ts in (EXPLICIT_LE, IMPLICIT_LE, EXPLICIT_BE):
        if ts in syntaxes:
            return ts
    return None


def payload(obj: ObjectFile, target: str, ctx: Any = None) -> Iterable[Any]:
    """The data set bytes of ``obj`` in ``target`` (streamed when no decode is needed)."""
    custom = hooks.RETRIEVE_PAYLOAD(obj, target, ctx)
    if custom is not None:
        return custom
    stored = obj.transfer_syntax
    if target == stored:
        return obj.chunks()
    if stored == EXPLICIT_LE and target == IMPLICIT_LE and obj.size:
        if obj.size <= SMALL:            # one joined buffer: far fewer PDV pieces to gather
            return [b"".join(to_implicit(obj.read()))]
        with open(obj.path, "rb") as handle:
            mapping = mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ)
        view = memoryview(mapping)[obj.offset:obj.offset + obj.size]
        return to_implicit(view)
    ds = Encoded(obj.read(), stored).dataset()
    if stored not in UNCOMPRESSED:
        ds.decompress(generate_instance_uid=False)
    return [Encoded.from_dataset(ds, target).raw]


def send_object(assoc: Association, context_id: int, obj: ObjectFile, data: Iterable[Any],
                originator: tuple[str, int] | None = None, timeout: float | None = -1.0) -> int:
    """One C-STORE-RQ with ``data`` on ``assoc``; returns the response status."""
    message_id = assoc.message_id()
    extra: dict[int, Any] = {PRIORITY: 0}
    if originator is not None:
        extra[MOVE_ORIGINATOR_AE] = originator[0]
        extra[MOVE_ORIGINATOR_ID] = originator[1]
    fields = request_fields(C_STORE_RQ, message_id, obj.sop_class, True, extra, instance=obj.sop_instance)
    assoc.send_message(context_id, fields, data)
    return assoc.wait_response(message_id, timeout).command.status


class StoreSCU:
    """An association to one destination for C-STORE sub-operations."""

    def __init__(self, own_ae: str, address: Address, timeout: float = 60.0, max_length: int = 131072):
        self.own_ae = own_ae
        self.address = address
        self.timeout = timeout
        self.max_length = max_length
        self.assoc: Association | None = None
        self.as_stored = False

    def open(self, needs: Iterable[tuple[str, str]], as_stored: bool = False) -> None:
        """Associate, proposing contexts for these (SOP class, transfer syntax); raises
        :class:`~dgate.net.association.Rejected` or ``OSError``."""
        self.as_stored = as_stored
        contexts = proposal(needs, self.address.compression, as_stored)
        request = pdu.Associate(self.address.ae[:16], self.own_ae[:16], contexts=contexts,
                                implementation_class_uid=IMPLEMENTATION_UID,
                                implementation_version_name=IMPLEMENTATION_VERSION)
        self.assoc = Association.connect(self.address.host, self.address.port, request, self.timeout,
                                         Limits(max_length=self.max_length, idle_timeout=self.timeout))

    def send(self, obj: ObjectFile, originator: tuple[str, int] | None = None, ctx: Any = None) -> int:
        """C-STORE one object; the status, or -1 when no accepted context fits it."""
        assert self.assoc is not None
        syntaxes = offered(self.assoc.contexts, obj.sop_class)
        target = choose_syntax(obj, syntaxes, self.address.compression, self.as_stored, ctx)
        if target is None:
            return -1
        return send_object(self.assoc, syntaxes[target], obj, payload(obj, target, ctx), originator, self.timeout)

    def close(self) -> None:
        if self.assoc is not None:
            self.assoc.release()
            self.assoc = None
