"""Synchronous forwarding: ``forward [compressed as XX] to AE|host:port [org AE] [dest AE]
[channel n|*] [script …]`` (conquest-lua-web.md §8.8).

A :class:`Forwarder` keeps one association per (import/export, converter N, channel)
and reuses it while the UID at ``ForwardAssociationLevel`` stays the same and the SOP
class was accepted; a background thread closes links idle for
``ForwardAssociationCloseDelay`` s (export links: 5 s). The transfer syntax proposed
comes from ``compressed as`` or the destination's acrnema.map column; the object is
recompressed to what the peer accepted. Sending is one function, :func:`send_on`.
"""
from __future__ import annotations

import copy
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from pydicom.dataset import Dataset

from ..config.acrnema import Address
from ..config.keys import atoi
from .recompress import for_peer, transfer_syntax

EXPLICIT, IMPLICIT, BIG = "1.2.840.10008.1.2.1", "1.2.840.10008.1.2", "1.2.840.10008.1.2.2"
LEVEL_TAGS = {"PATIENT": "PatientID", "STUDY": "StudyInstanceUID", "SERIES": "SeriesInstanceUID",
              "IMAGE": "SOPInstanceUID", "SOPCLASS": "SOPClassUID"}


@dataclass
class ForwardSpec:
    destination: str
    compression: str | None = None      # from "compressed as"
    org: str = ""
    dest_ae: str = ""
    channel: int | None = None
    channel_any: bool = False
    script: str = ""


def parse_forward(line: str) -> ForwardSpec:
    """Parse a ``forward to``/``forward compressed as`` statement."""
    low = line.lower()
    offset, compression = 11, None
    if low.startswith("forward compressed as "):
        compression = line[22:24]
        offset = 28
        if line[24:25] not in (" ", ""):
            compression = line[22:26]
            offset = 30
    body = line[offset:]
    spec = ForwardSpec(destination="", compression=compression)
    at = body.find(" script ")
    if at >= 0:
        spec.script = body[at + 8:]
        body = body[:at]
    for word in ("org", "dest", "channel"):
        at = body.find(f" {word} ")
        if at >= 0:
            value = body[at + len(word) + 2:].split(" ")[0]
            if word == "org":
                spec.org = value
            elif word == "dest":
                spec.dest_ae = value
            elif value.startswith("*"):
                spec.channel_any = True
            else:
                n = atoi(value)
                spec.channel = n if 0 <= n < 20 else 0
    spec.destination = body.split(" ")[0]
    return spec


def resolve(amap, destination: str, compression: str | None) -> tuple[Address, str]:
    """(address, compression code) of an AE or ``host:port`` (default port 5678)."""
    found = amap.lookup(destination)
    if found is not None:
        return found, compression if compression is not None else found.compression
    host, _, port = destination.partition(":")
    return Address(destination, host, atoi(port) if port else 5678, "un"), \
        compression if compression is not None else "un"


def proposed_syntaxes(code: str, ds: Dataset) -> list[str]:
    """Transfer syntaxes to propose for an object sent with compression ``code``
    (``AddTransferSyntaxs``, :func:`dgate.codec.proposed_syntaxes`): the code's syntaxes,
    then Implicit VR Little Endian unless the code holds ``!``; ``as``/``is`` (which 1.5.0e
    sends as Implicit VR Little Endian) propose the object's own syntax first, so it can
    go as stored."""
    from ..codec import proposed_syntaxes as codec_proposed
    return codec_proposed(code, transfer_syntax(ds))


def _goes_as_it_is(ds: Dataset, accepted: list[str], code: str) -> bool:
    """An uncompressed object for an ``un``/``as``/``is`` destination that accepted an
    uncompressed syntax: no codec work, it is written in the accepted syntax as it is sent."""
    from ..codec.pixels import has_nki
    from ..store.formats import UNCOMPRESSED
    return (code or "un")[:2].lower() in ("un", "as", "is") and transfer_syntax(ds) in UNCOMPRESSED \
        and any(ts in UNCOMPRESSED for ts in accepted) and not has_nki(ds)


class SendFailed(Exception):
    """The object could not be sent on an open association (the link is dropped)."""


class _Accepted:
    """An accepted presentation context as the link code reads it (pynetdicom's shape)."""

    def __init__(self, pc_id: int, abstract_syntax: str, transfer_syntax: str):
        self.context_id, self.abstract_syntax, self.transfer_syntax = pc_id, abstract_syntax, [transfer_syntax]


class LeanAssociation:
    """A forward association on the server's own DIMSE layer (:mod:`dgate.net.association`,
    TCP_NODELAY set): ``is_established``, ``accepted_contexts``, ``send_c_store``, ``release``,
    ``abort`` as the link code uses them."""

    def __init__(self, assoc, timeout: float):
        self.assoc, self.timeout = assoc, timeout
        self.is_established = True
        self.accepted_contexts = [_Accepted(i, pc.abstract_syntax, pc.transfer_syntax)
                                  for i, pc in sorted(assoc.contexts.items())]

    def _context(self, sop_class: str, ts: str) -> tuple[int, str] | None:
        from ..store.formats import UNCOMPRESSED
        fallback = None
        for cx in self.accepted_contexts:
            if cx.abstract_syntax != sop_class:
                continue
            if cx.transfer_syntax[0] == ts:
                return cx.context_id, ts
            if fallback is None and ts in UNCOMPRESSED and cx.transfer_syntax[0] in UNCOMPRESSED:
                fallback = cx.context_id, cx.transfer_syntax[0]
        return fallback

    def send_c_store(self, ds: Dataset):
        """C-STORE ``ds`` (in its own transfer syntax, or another uncompressed one); the
        response as a Dataset with ``Status``."""
        from ..net.association import Aborted, Closed, ProtocolError
        from ..net.dimse import C_STORE_RQ, PRIORITY, request_fields
        if not self.is_established:
            raise RuntimeError("association closed")
        sop_class = str(ds.get("SOPClassUID", ""))
        found = self._context(sop_class, transfer_syntax(ds))
        if found is None:
            raise ValueError("no accepted presentation context for this object")
        pc_id, ts = found
        data = _encode(ds, ts)
        try:
            message_id = self.assoc.message_id()
            fields = request_fields(C_STORE_RQ, message_id, sop_class, True, {PRIORITY: 0},
                                    instance=str(ds.get("SOPInstanceUID", "")))
            self.assoc.send_message(pc_id, fields, data)
            status = self.assoc.wait_response(message_id, self.timeout).command.status
        except (OSError, Closed, Aborted, ProtocolError, TimeoutError) as exc:
            self.is_established = False
            self.assoc.close()
            raise RuntimeError(str(exc) or type(exc).__name__) from exc
        answer = Dataset()
        answer.Status = status
        return answer

    def release(self) -> None:
        if self.is_established:
            self.is_established = False
            self.assoc.release(min(self.timeout, 10.0))

    def abort(self) -> None:
        if self.is_established:
            self.is_established = False
            self.assoc.abort()


def _encode(ds: Dataset, ts: str) -> list:
    """The data set bytes of ``ds`` in ``ts``; Explicit → Implicit VR LE by the lean header
    rewrite of :func:`dgate.store.scan.to_implicit` (no element conversion by pydicom)."""
    from ..store.formats import Encoded
    from ..store.scan import StructureError, scan, to_implicit
    from .pristine import source_bytes
    own = transfer_syntax(ds)
    source = source_bytes(ds)             # read from a file and not changed: its bytes as they are
    if source is not None and source[1] == own == ts:
        return [source[0]]
    if own == EXPLICIT and ts == IMPLICIT:
        raw = source[0] if source is not None and source[1] == own else Encoded.from_dataset(ds, own).raw
        try:
            scan(raw, own)
            return list(to_implicit(raw))
        except StructureError:
            pass
    return [Encoded.from_dataset(ds, ts).raw]


VERIFICATION = "1.2.840.10008.1.1"


def build_context(sop_class: str, syntaxes: list[str] | None = None) -> tuple[str, list[str]]:
    """A presentation context to propose (SOP class, transfer syntaxes)."""
    return sop_class, list(syntaxes or [IMPLICIT])


def open_association(calling: str, address: Address, called: str, contexts: list, timeout: float):
    """An association to ``address`` on the own DIMSE layer, or None when refused/down."""
    from ..net import pdu
    from ..net.association import Association, Limits, Rejected
    from ..net.negotiation import IMPLEMENTATION_UID, IMPLEMENTATION_VERSION
    proposed = [pdu.ProposedContext(2 * i + 1, sop, syntaxes) for i, (sop, syntaxes) in enumerate(contexts[:128])]
    request = pdu.Associate((called or address.ae)[:16], calling[:16] or "DGATE", contexts=proposed,
                            implementation_class_uid=IMPLEMENTATION_UID,
                            implementation_version_name=IMPLEMENTATION_VERSION)
    try:
        assoc = Association.connect(address.host, address.port, request, min(timeout, 10.0),
                                    Limits(idle_timeout=timeout))
    except (Rejected, OSError):
        return None
    return LeanAssociation(assoc, timeout)


def send_on(assoc, ds: Dataset) -> int:
    """C-STORE ``ds`` on an open association; the DIMSE status (raises SendFailed)."""
    try:
        status = assoc.send_c_store(ds)
    except (ValueError, RuntimeError, AttributeError) as exc:
        raise SendFailed(str(exc)) from exc
    if not status or "Status" not in status:
        raise SendFailed("no C-STORE response (association lost)")
    return int(status.Status)


@dataclass
class Link:
    """One reusable forward association."""

    key: tuple
    sop_classes: list[str] = field(default_factory=list)
    syntaxes: list[str] = field(default_factory=list)
    assoc: Any = None
    last_uid: str | None = None
    last_used: float = 0.0
    contexts_since: float = field(default_factory=time.time)
    active: bool = False
    export: bool = False
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def connected(self) -> bool:
        return self.assoc is not None and self.assoc.is_established

    def accepted(self, sop_class: str) -> list[str]:
        if not self.connected:
            return []
        return [str(cx.transfer_syntax[0]) for cx in self.assoc.accepted_contexts
                if str(cx.abstract_syntax) == sop_class]

    def close(self, release: bool = True) -> None:
        if self.assoc is not None:
            try:
                if release and self.assoc.is_established:
                    self.assoc.release()
                else:
                    self.assoc.abort()
            except Exception:
                pass
        self.assoc = None


class Forwarder:
    """The process's forward links, their reuse rules and their idle closing."""

    def __init__(self, config, logs):
        self.config = config
        self.logs = logs
        self.links: dict[tuple, Link] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -- background closing --------------------------------------------------------------
    def start(self) -> None:
        if self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(target=self._closer, name="forward-close", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)
            self._thread = None
        self.close_all()

    def close_all(self) -> None:
        release = self.config.settings.int("ForwardAssociationRelease") != 0
        with self._lock:
            links = list(self.links.values())
        for link in links:
            with link.lock:
                link.close(release)

    def close_import_links(self) -> int:
        """Close the idle import links (the last association of the server ended); the number closed."""
        return self._close_where(lambda link: not link.export)

    def close_idle(self, now: float | None = None) -> int:
        """Close links idle past their delay; the number closed."""
        now = now if now is not None else time.time()
        settings = self.config.settings
        import_delay = settings.int("ForwardAssociationCloseDelay")
        return self._close_where(lambda link: now - link.last_used > (5 if link.export else import_delay))

    def _close_where(self, wanted) -> int:
        """Close the connected, unused links for which ``wanted(link)``; the number closed
        (a link busy in another thread is left alone)."""
        release = self.config.settings.int("ForwardAssociationRelease") != 0
        closed = 0
        with self._lock:
            links = list(self.links.values())
        for link in links:
            if link.connected and not link.active and wanted(link) and link.lock.acquire(blocking=False):
                try:
                    link.close(release)
                    closed += 1
                finally:
                    link.lock.release()
        return closed

    def _closer(self) -> None:
        while not self._stop.wait(1.0):
            try:
                self.close_idle()
            except Exception as exc:  # the closer must keep running
                self.logs.operator.printf(f"*** forward link closer: {exc}\n")

    def open_links(self) -> int:
        with self._lock:
            return sum(1 for link in self.links.values() if link.connected)

    # -- sending -------------------------------------------------------------------------
    def _link(self, key: tuple, export: bool) -> Link:
        with self._lock:
            link = self.links.get(key)
            if link is None:
                link = self.links[key] = Link(key, export=export)
            return link

    def forward(self, spec: ForwardSpec, ds: Dataset, ctx, channel: int, export: bool = False,
                run=None) -> tuple[bool, bool]:
        """Send a copy of ``ds`` per ``spec``: (sent, should retry later)."""
        settings = self.config.settings
        label = ctx.label(channel, capital=True)
        address, code = resolve(self.config.amap, spec.destination, spec.compression)
        work = ds
        if spec.script:
            from .script import run_script
            work = copy.deepcopy(ds)
            sub = ctx.child(number=-1)
            if run_script(spec.script, work, sub) in (2, 6):
                return True, False
        sop_class = str(work.get("SOPClassUID", ""))
        if not sop_class:
            ctx.logs.operator.printf(f"*** {label}: Forward failed because SopClass is missing\n")
            return False, False
        number = ctx.number if 0 <= ctx.number < 20 else 19
        link = self._link(("export" if export else "import", number, channel), export)
        level = settings.str("ForwardAssociationLevel").upper()
        level_key = next((k for k in LEVEL_TAGS if level.startswith(k)), None)
        level_uid = str(work.get(LEVEL_TAGS[level_key], "")) if level_key else ""
        release = settings.int("ForwardAssociationRelease") != 0
        timeout = float(settings.int("TCPIPTimeOut") or 300)
        wanted = proposed_syntaxes(code, work)
        link.active = True
        try:
            with link.lock:
                if link.connected and (not link.accepted(sop_class) or link.last_uid != level_uid):
                    why = level if link.last_uid != level_uid else "SOPCLASS"
                    ctx.logs.operator.printf(f"{label}: Forward association closed by {why}\n")
                    link.close(release)
                link.last_uid = level_uid
                if not link.connected:
                    if time.time() - link.contexts_since > settings.int("ForwardAssociationRefreshDelay"):
                        link.sop_classes, link.contexts_since = [], time.time()
                    if sop_class not in link.sop_classes:
                        link.sop_classes.append(sop_class)
                    link.sop_classes = link.sop_classes[-100:]
                    link.syntaxes = wanted
                    contexts = [build_context(s, wanted) for s in link.sop_classes]
                    contexts.append(build_context(VERIFICATION))
                    try:
                        link.assoc = open_association(spec.org or ctx.own_ae or settings.str("MyACRNema"),
                                                      address, spec.dest_ae, contexts, timeout)
                    except OSError:
                        link.assoc = None
                    if link.assoc is None:
                        ctx.logs.operator.printf(f"*** {label}: Forward failed to connect to host "
                                                 f"{spec.destination}\n")
                        return False, True
                accepted = link.accepted(sop_class)
                if not accepted:
                    ctx.logs.operator.printf(f"*** {label}: DICOM server {spec.destination} does not accept type "
                                             f"of forwarded image\n")
                    if level.startswith("IMAGE"):
                        link.close(release)
                    return False, False
                try:
                    payload = work if _goes_as_it_is(work, accepted, code) else for_peer(work, accepted, code, ctx)
                except Exception as exc:   # CodecError, or a peer that accepted nothing usable
                    ctx.logs.operator.printf(f"*** {label}: Forward failed to compress DICOM image for "
                                             f"{spec.destination} ({exc})\n")
                    return False, False
                try:
                    status = send_on(link.assoc, payload)
                except SendFailed as exc:
                    ctx.logs.operator.printf(f"*** {label}: Forward failed to send DICOM image to "
                                             f"{spec.destination} ({exc})\n")
                    link.close(False)
                    return False, settings.int("RetryForwardFailed") != 0
                link.last_used = time.time()
                if level.startswith("IMAGE"):
                    link.close(release)
                if status not in (0x0000, 0xB000, 0xB007, 0xB006):
                    ctx.logs.operator.printf(f"*** {label}: Forward failed: remote DICOM error "
                                             f"{status:#06x}\n")
                    return False, settings.int("RetryForwardRemoteDICOMError") != 0
                from ..store.ingest import counters
                counters.add("forwarded")
                return True, False
        finally:
            link.active = False
            link.last_used = time.time()
