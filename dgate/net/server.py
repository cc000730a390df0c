"""The DICOM server: C-ECHO, C-STORE, C-FIND, C-MOVE and C-GET SCP on pynetdicom.

Network handlers only translate DICOM messages into calls on the ingest pipeline
(:mod:`dgate.store.ingest`) and the database interface (:mod:`dgate.db`); they never
touch files or SQL themselves. Each association gets its own database connection.

Logging follows dgate (conquest-protocol.md §9.3): the association header
(``UPACS THREAD n: STARTED AT``, AE titles, presentation contexts) is printed when the
first message arrives, then one line per operation, then ``ENDED AT`` and the running
time. A refused presentation context is logged with the dgatesop.lst line that would
allow it.
"""
from __future__ import annotations

import itertools
import socket
import threading
import time
from dataclasses import dataclass, field

from pydicom.dataset import Dataset
from pynetdicom import AE, evt

from ..config import Configuration
from ..db import Database, DatabaseError, open_database
from ..log import Logs
from ..store.devices import locate
from ..store.formats import EXPLICIT_LE, IMPLICIT_LE, UNCOMPRESSED, Encoded, read_file
from ..store.ingest import Ingest, StoreFailed, counters
from .control import COMMAND, CONSOLE_TEXT, UPLOAD, command_of, install_hooks, reply_elements
from .negotiation import NKI_MOVE, SopListWatcher

install_hooks()

FIND_MODELS = {
    "1.2.840.10008.5.1.4.1.2.1.1": ("PatientRoot", ("PATIENT", "STUDY", "SERIES", "IMAGE")),
    "1.2.840.10008.5.1.4.1.2.2.1": ("StudyRoot", ("STUDY", "SERIES", "IMAGE")),
    "1.2.840.10008.5.1.4.1.2.3.1": ("PatientStudyOnly", ("PATIENT", "STUDY")),
    "1.2.840.10008.5.1.4.31": ("Modality Work List", ()),
}
MOVE_MODELS = {
    "1.2.840.10008.5.1.4.1.2.1.2": "PatientRoot", "1.2.840.10008.5.1.4.1.2.2.2": "StudyRoot",
    "1.2.840.10008.5.1.4.1.2.3.2": "PatientStudyOnly",
    **{uid: name.replace("Retrieve", "") for uid, name in NKI_MOVE.items()},
}
GET_MODELS = {
    "1.2.840.10008.5.1.4.1.2.1.3": "PatientRoot", "1.2.840.10008.5.1.4.1.2.2.3": "StudyRoot",
    "1.2.840.10008.5.1.4.1.2.3.3": "PatientStudyOnly",
}


def set_nodelay(assoc) -> None:
    """TCP_NODELAY on the association's socket (without it each exchange stalls ~40 ms)."""
    try:
        sock = assoc.dul.socket.socket
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    except (AttributeError, OSError):
        pass


@dataclass
class AssociationState:
    number: int
    started: float
    calling: str = ""
    called: str = ""
    announced: bool = False
    db: Database | None = None
    compression: str | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)


class DicomServer:
    """A dgate server for one configuration."""

    def __init__(self, config: Configuration, logs: Logs, ae_title: str | None = None,
                 port: int | None = None, address: str = "0.0.0.0"):
        self.config = config
        self.settings = config.settings
        self.logs = logs
        self.ae_title = (ae_title or self.settings.str("MyACRNema"))[:16]
        self.port = port if port is not None else int(self.settings.str("TCPPort") or 104)
        self.address = address
        self.ingest = Ingest(config, logs)
        self.ae = self._make_ae()
        self.watcher = SopListWatcher(self.ae, config.soplist, str(self.settings.path("SOPClassList")))
        self._states: dict[int, AssociationState] = {}
        self._states_lock = threading.Lock()
        self._numbers = itertools.count()
        self._next_number = 0
        self.server = None
        self.started_at = time.time()
        self.status_string = ""
        self.debug_level = self.settings.int("DebugLevel")

    def association_count(self) -> tuple[int, int]:
        """(associations so far, open now) for ``display_status``."""
        with self._states_lock:
            open_now = len(self._states)
        return self._next_number, open_now

    # -- setup ---------------------------------------------------------------------------
    def _make_ae(self) -> AE:
        ae = AE(ae_title=self.ae_title)
        timeout = self.settings.int("TCPIPTimeOut") or None
        ae.acse_timeout = timeout
        ae.dimse_timeout = timeout
        ae.network_timeout = timeout
        ae.maximum_pdu_size = self.settings.int("PDUSize") or 131072
        ae.maximum_associations = 64
        return ae

    def handlers(self) -> list:
        return [
            (evt.EVT_CONN_OPEN, self.on_open), (evt.EVT_ACCEPTED, self.on_accepted),
            (evt.EVT_RELEASED, self.on_end), (evt.EVT_ABORTED, self.on_end),
            (evt.EVT_CONN_CLOSE, self.on_close),
            (evt.EVT_C_ECHO, self.on_echo), (evt.EVT_C_STORE, self.on_store),
            (evt.EVT_C_FIND, self.on_find), (evt.EVT_C_MOVE, self.on_move), (evt.EVT_C_GET, self.on_get),
        ]

    def start(self, block: bool = True):
        """Listen on the port; with ``block=False`` return the running server."""
        self.watcher.refresh()
        self.server = self.ae.start_server((self.address, self.port), block=block,
                                           evt_handlers=self.handlers())
        return self.server

    def shutdown(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server = None

    # -- association bookkeeping --------------------------------------------------------
    def state(self, assoc) -> AssociationState:
        with self._states_lock:
            st = self._states.get(id(assoc))
            if st is None:
                st = AssociationState(next(self._numbers), time.time())
                self._next_number = st.number + 1
                self._states[id(assoc)] = st
            return st

    def on_open(self, event) -> None:
        set_nodelay(event.assoc)
        self.state(event.assoc)

    def on_accepted(self, event) -> None:
        assoc = event.assoc
        st = self.state(assoc)
        st.calling = assoc.requestor.ae_title
        st.called = assoc.acceptor.ae_title
        raw_called = getattr(getattr(assoc.requestor, "primitive", None), "called_ae_title", "") or ""
        if "~" in raw_called:
            st.compression = raw_called.split("~", 1)[1].strip()
        soplist = self.watcher.current
        for cx in assoc.rejected_contexts:
            uid = str(cx.abstract_syntax)
            if not soplist.accepts_sop(uid):
                self.logs.operator.printf(
                    f"*** Presentation context refused: {uid} ({_name(uid)}) is not in dgatesop.lst; "
                    f"to accept it add the line: {_name(uid):<42} {uid:<44} sop\n")
            else:
                ts = ", ".join(str(t) for t in cx.transfer_syntax) or "(none)"
                first = str(cx.transfer_syntax[0]) if cx.transfer_syntax else ""
                self.logs.operator.printf(
                    f"*** Presentation context refused for {uid} ({_name(uid)}): none of the transfer "
                    f"syntaxes {ts} is in dgatesop.lst; to accept it add the line: "
                    f"{_name(first):<42} {first:<44} transfer\n")

    def announce(self, assoc, command: int = 0, message_id: int = 0, request=None) -> AssociationState:
        """Print the association header once, at the first (non-silent) message."""
        st = self.state(assoc)
        if request is not None and COMMAND in command_of(request):
            return st   # silent: a 9999,0400 element makes any message silent
        with st.lock:
            if not st.announced:
                st.announced = True
                op = self.logs.operator
                lines = [f"\nUPACS THREAD {st.number}: STARTED AT: {time.ctime(st.started)}\n",
                         f'\tCalling Application Title : "{st.calling:<16}"\n',
                         f'\tCalled Application Title : "{st.called:<16}"\n',
                         f'\tApplication Context : "1.2.840.10008.3.1.1.1", PDU length: '
                         f'{assoc.requestor.maximum_length}\n']
                soplist = self.watcher.current
                for i, cx in enumerate(assoc.requestor.requested_contexts or []):
                    uid = str(cx.abstract_syntax)
                    lines.append(f'\tPresentation Context {i} "{uid}" {int(soplist.accepts_sop(uid))}\n')
                op.printf("".join(lines))
        counters.add("associations")
        if command:
            self.logs.debug.printf(f"Server Command   := {command:04x}\nMessage ID       := {message_id:04x}\n")
        return st

    def on_end(self, event) -> None:
        st = self._states.get(id(event.assoc))
        if st is not None and st.announced:
            now = time.time()
            self.logs.operator.printf(f"UPACS THREAD {st.number}: ENDED AT: {time.ctime(now)}\n"
                                      f"UPACS THREAD {st.number}: TOTAL RUNNING TIME: "
                                      f"{int(now - st.started)} SECONDS\n")
            st.announced = False

    def on_close(self, event) -> None:
        with self._states_lock:
            st = self._states.pop(id(event.assoc), None)
        if st is not None and st.db is not None:
            st.db.close()

    def database(self, assoc) -> Database:
        st = self.state(assoc)
        if st.db is None:
            st.db = open_database(self.config, self.logs, own_ae=self.ae_title)
        return st.db

    # -- services ------------------------------------------------------------------------
    def on_echo(self, event) -> int:
        private = command_of(event.request)
        if COMMAND in private:
            self.server_command(event, private)
            return 0x0000
        self.announce(event.assoc, 0x0030, event.request.MessageID or 0)
        self.logs.operator.printf("C-Echo\n")
        counters.add("echo")
        return 0x0000

    # -- the server-command channel (conquest-protocol.md §4.4) ------------------------------
    def command_allowed(self, assoc) -> bool:
        """Commands only from the addresses in ``ServerCommandAddresses`` and AEs in
        ``ServerCommandAEs`` (ours; the original accepts anyone)."""
        address = str(getattr(assoc.requestor, "address", "") or "")
        allowed = {a.strip() for a in self.settings.str("ServerCommandAddresses").split(",") if a.strip()}
        aes = {a.strip() for a in self.settings.str("ServerCommandAEs").split(",") if a.strip()}
        address_ok = "*" in allowed or address in allowed or \
            (address.startswith("::ffff:") and address[7:] in allowed)
        ae_ok = not aes or "*" in aes or assoc.requestor.ae_title.strip() in aes
        return address_ok and ae_ok

    def server_command(self, event, private: dict[int, bytes]) -> None:
        """Run the command of a silent C-ECHO and put its reply on the association."""
        from ..commands import dispatch
        from ..commands.context import CommandContext

        assoc = event.assoc
        text = private[COMMAND].split(b"\0", 1)[0].decode("latin-1")
        if text.endswith(" "):
            text = text[:-1]
        console = private.get(CONSOLE_TEXT)
        if console:
            self.logs.operator.printf(console.split(b"\0", 1)[0].decode("latin-1")[:1023] + "\n")
        if not self.command_allowed(assoc):
            self.logs.operator.printf(f"*** server command refused from {assoc.requestor.address} "
                                      f"({assoc.requestor.ae_title.strip()}): not in ServerCommandAddresses\n")
            return
        self.logs.debug.printf(f"Server Command := {text[:200]}\n")
        upload = private.get(UPLOAD)
        if upload is not None and command_of(event.request).get(0x99990404, b"")[:1] == b"\x01":
            upload = upload[:-1]
        ctx = CommandContext(self.config, self.logs, self.ae_title, self.port, upload=upload,
                             server=self, peer=str(assoc.requestor.address))
        try:
            payload = dispatch(ctx, text)
        except Exception as exc:  # a failing command must not take the server down
            self.logs.operator.printf(f"***server command {text.split(':', 1)[0]}: failed: {exc}\n")
            payload = None
        finally:
            ctx.close()
        assoc.dgate_reply = reply_elements(payload)

    def on_store(self, event) -> int:
        assoc = event.assoc
        st = self.announce(assoc, 0x0001, event.request.MessageID or 0)
        self.logs.log_user("C-Store", st.calling)
        encoded = Encoded(event.request.DataSet.getvalue(), str(event.context.transfer_syntax))
        try:
            self.ingest.store(encoded, self.database(assoc), st.calling, st.called, st.compression)
        except (StoreFailed, DatabaseError) as exc:
            self.logs.operator.printf(f"{exc}\n")
            return self.settings.int("StorageFailedErrorCode") or 0x0110
        return 0x0000

    def on_find(self, event):
        assoc = event.assoc
        self.announce(assoc, 0x0020, event.request.MessageID or 0)
        uid = str(event.request.AffectedSOPClassUID)
        model, levels = FIND_MODELS.get(uid, ("Unknown", ()))
        counters.add("find")
        try:
            identifier = event.identifier
        except Exception as exc:
            self.logs.operator.printf(f"***C-Find: cannot decode identifier: {exc}\n")
            yield 0xA900, None
            return
        db = self.database(assoc)
        try:
            if model == "Modality Work List":
                results = db.find_worklist(identifier)
                level = None
            else:
                level = str(identifier.get("QueryRetrieveLevel", "")).strip().upper()
                if level not in levels:
                    self.logs.operator.printf(f"***C-Find ({model}): level '{level}' is not supported\n")
                    yield 0xA900, None
                    return
                results = db.find(level, identifier)
        except DatabaseError as exc:
            self.logs.operator.printf(f"***C-Find ({model}) failed: {exc}\n")
            yield 0xA700, None
            return
        self.logs.operator.printf(f"C-Find ({model}) located {len(results)} records\n")
        for result in results:
            if event.is_cancelled:
                self.logs.operator.printf("Cancel request\n")
                yield 0xFE00, None
                return
            if level is not None:
                result.QueryRetrieveLevel = level
            yield 0xFF00, result

    # -- retrieval -----------------------------------------------------------------------
    def _datasets(self, assoc, identifier: Dataset) -> list:
        """The stored files selected by a C-MOVE/C-GET identifier."""
        level = str(identifier.get("QueryRetrieveLevel", "IMAGE")).strip().upper() or "IMAGE"
        keys = Dataset()
        for tag in (0x00100020, 0x0020000D, 0x0020000E, 0x00080018, 0x00080050):
            if tag in identifier and identifier[tag].value not in (None, ""):
                keys[tag] = identifier[tag]
        if not keys and level != "PATIENT":
            return []
        return self.database(assoc).stored_files(keys)

    def _load(self, device: str, object_file: str, uncompressed: bool) -> Dataset | None:
        path = locate(self.settings, device or "MAG0", object_file or "")
        if path is None:
            self.logs.operator.printf(f"***Could not find file: {object_file}\n")
            return None
        try:
            ds = read_file(path).dataset()
            if uncompressed and str(ds.file_meta.TransferSyntaxUID) not in UNCOMPRESSED:
                ds.decompress(generate_instance_uid=False)
        except Exception as exc:  # pydicom and the codecs raise many kinds on broken files
            self.logs.operator.printf(f"***Could not read {path}: {exc}\n")
            return None
        return ds

    def on_move(self, event):
        assoc = event.assoc
        st = self.announce(assoc, 0x0021, event.request.MessageID or 0)
        self.logs.log_user("C-Move ", st.calling)
        destination = str(event.move_destination).strip()
        model = MOVE_MODELS.get(str(event.request.AffectedSOPClassUID), "StudyRoot")
        self.logs.operator.printf(f'\tC-Move Destination: "{destination}"\n')
        self.logs.operator.printf(f"C-Move ({model})\n")
        counters.add("move")
        address = self.config.amap.lookup(destination)
        if address is None:
            self.logs.operator.printf(f"***C-Move: destination {destination} is not in acrnema.map\n")
            yield None, None
            return
        try:
            socket.getaddrinfo(address.host, address.port)
        except OSError as exc:
            self.logs.operator.printf(f"***C-Move: cannot resolve host '{address.host}' of {destination}: {exc}\n")
            yield None, None
            return
        rows = self._datasets(assoc, event.identifier)
        uncompressed = address.compression.lower().startswith("u")
        datasets = []
        for stored in rows:
            ds = self._load(stored.device, stored.object_file, uncompressed)
            if ds is not None:
                datasets.append(ds)
        contexts = _contexts_for(datasets)
        yield address.host, address.port, {"contexts": contexts,
                                           "evt_handlers": [(evt.EVT_CONN_OPEN, _nodelay_handler)]}
        yield len(datasets)
        accepted = self._accepted_by(destination)     # pynetdicom associates after the count
        failed_loads = len(rows) - len(datasets)
        for ds in datasets:
            if event.is_cancelled:
                yield 0xFE00, None
                return
            if accepted is not None:
                fit_to_accepted(ds, accepted)       # the destination may refuse the compressed syntax
            counters.add("sent")
            yield 0xFF00, ds
        if failed_loads:
            self.logs.operator.printf(f"***C-Move: {failed_loads} stored file(s) could not be read\n")

    def _accepted_by(self, destination: str) -> set | None:
        """Accepted (SOP class, transfer syntax) pairs of our open association to a C-MOVE
        destination, or None when it cannot be found."""
        for assoc in reversed(self.ae.active_associations):
            if assoc.is_requestor and assoc.acceptor.ae_title.strip() == destination:
                return accepted_pairs(assoc)
        return None

    def on_get(self, event):
        assoc = event.assoc
        st = self.announce(assoc, 0x0010, event.request.MessageID or 0)
        self.logs.log_user("C-Get ", st.calling)
        model = GET_MODELS.get(str(event.request.AffectedSOPClassUID), "StudyRoot")
        self.logs.operator.printf(f"C-Get ({model})\n")
        rows = self._datasets(assoc, event.identifier)
        accepted = accepted_pairs(assoc, as_scu=True)
        yield len(rows)
        for stored in rows:
            if event.is_cancelled:
                yield 0xFE00, None
                return
            ds = self._load(stored.device, stored.object_file, False)
            if ds is None:
                yield 0xA702, None
                continue
            fit_to_accepted(ds, accepted)
            counters.add("sent")
            yield 0xFF00, ds


def accepted_pairs(assoc, as_scu: bool = False) -> set[tuple[str, str]]:
    """(SOP class, transfer syntax) of every context the peer accepted (ours as SCU only)."""
    return {(str(cx.abstract_syntax), str(cx.transfer_syntax[0]))
            for cx in assoc.accepted_contexts if cx.as_scu or not as_scu}


def fit_to_accepted(ds: Dataset, accepted: set[tuple[str, str]]) -> None:
    """Decompress an object whose compressed syntax the peer did not accept; pynetdicom
    re-encodes uncompressed objects to whatever uncompressed syntax was accepted."""
    ts = str(ds.file_meta.TransferSyntaxUID)
    if ts not in UNCOMPRESSED and (str(ds.SOPClassUID), ts) not in accepted:
        ds.decompress(generate_instance_uid=False)


def _nodelay_handler(event) -> None:
    set_nodelay(event.assoc)


def _contexts_for(datasets: list[Dataset]) -> list:
    """Presentation contexts to propose to a C-MOVE destination for these objects."""
    from pynetdicom.presentation import build_context
    wanted: dict[str, set[str]] = {}
    for ds in datasets:
        wanted.setdefault(str(ds.SOPClassUID), set()).add(str(ds.file_meta.TransferSyntaxUID))
    contexts = []
    for sop, syntaxes in wanted.items():
        for ts in sorted(syntaxes - UNCOMPRESSED):
            contexts.append(build_context(sop, [ts]))
        contexts.append(build_context(sop, [EXPLICIT_LE, IMPLICIT_LE]))
    return contexts[:128] or [build_context("1.2.840.10008.1.1")]


def _name(uid: str) -> str:
    from pydicom.uid import UID
    name = UID(uid).keyword if uid else ""
    return name or "PrivateSOPClass"
