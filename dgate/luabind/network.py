"""DICOM network functions of Lua: ``dicomquery``, ``dicomquery2``, ``dicommove``,
``dicomget``, ``dicomstore``, ``dicomecho``, ``dicomprint`` (conquest-lua-web.md §3).

AEs are looked up in acrnema.map; ``dicomget``, ``dicomstore`` and ``dicomecho`` also take
``host:port`` (default port 5678). Arrays returned are 0-based and owned by the script;
a connection failure returns nil (``dicomstore``: the string ``Failed to connect to host``).
"""
from __future__ import annotations

import copy
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from pydicom.dataset import Dataset
from pydicom.uid import UID

from .handles import Handle, datasets_of

if TYPE_CHECKING:
    from .runtime import LuaState

LEVELS = {"PATIENT": ("patient", "PATIENT"), "STUDY": ("study", "STUDY"), "SERIES": ("study", "SERIES"),
          "IMAGE": ("study", "IMAGE"), "WORKLIST": ("worklist", None), "PATIENTP": ("patientstudyonly", "PATIENT"),
          "STUDYP": ("patientstudyonly", "STUDY")}


def functions(state: LuaState) -> dict[str, Callable[..., Any]]:
    net = Network(state)
    return {"dicomquery": net.dicomquery, "dicomquery2": net.dicomquery, "dicommove": net.dicommove,
            "dicomget": net.dicomget, "dicomstore": net.dicomstore, "dicomecho": net.dicomecho,
            "dicomprint": net.dicomprint}


class Network:
    def __init__(self, state: LuaState):
        self.state = state

    @property
    def services(self):
        return self.state.services

    def address(self, ae: str, host_port: bool = False):
        from ..config.acrnema import Address
        services = self.services
        if services.config is not None:
            if ae.strip() == services.ae.strip():
                return Address(ae, "127.0.0.1", services.port, "un")
            found = services.config.amap.lookup(ae)
            if found is not None:
                return found
        if host_port and ae:
            host, _, port = ae.partition(":")
            try:
                return Address(ae, host, int(port or 5678), "un")
            except ValueError:
                return None
        return None

    def _query(self, query: Any, level: str) -> tuple[Dataset, str] | None:
        items = datasets_of(query)
        if not items or level.upper() not in LEVELS:
            return None
        ident = copy.deepcopy(items[0])
        if hasattr(ident, "file_meta"):
            del ident.file_meta
        model, written = LEVELS[level.upper()]
        if written is not None:
            ident.QueryRetrieveLevel = written
        return ident, model

    def dicomquery(self, ae: Any = None, level: Any = None, query: Any = None):
        from ..net.scu import AssociationFailed, find
        if ae is None or level is None:
            return None
        address = self.address(str(ae))
        built = self._query(query, str(level))
        if address is None or built is None:
            return None
        ident, model = built
        try:
            results = find(self.services.ae, address, ident, model)
        except (AssociationFailed, OSError, RuntimeError, ValueError) as exc:
            self.services.logs.operator.printf(f"***dicomquery: {exc}\n")
            return None
        return self.state.wrap(Handle(items=results))

    def dicommove(self, source: Any = None, dest: Any = None, query: Any = None, patroot: Any = None,
                  extra: Any = None):
        """C-MOVE; nil on success, else an error string as the original's."""
        from ..net.scu import AssociationFailed, move
        if source is None or dest is None:
            return "***dicommove: missing AE"
        address = self.address(str(source))
        if address is None:
            return f"***dicommove: AE not found: {source}"
        items = datasets_of(query)
        if not items:
            return "***dicommove: no query"
        ident = copy.deepcopy(items[0])
        model = "patient" if patroot in (1, "1", True) else "study"
        if "QueryRetrieveLevel" not in ident:
            ident.QueryRetrieveLevel = "STUDY" if model == "study" else "PATIENT"
        try:
            result = move(self.services.ae, address, str(dest), ident, model, message_id=0x555)
        except AssociationFailed:
            return f"***dicommove: could not connect to AE: {source}"
        except (OSError, RuntimeError, ValueError) as exc:
            return f"***dicommove: association lost: {exc}"
        if isinstance(extra, str) and extra:
            self.services.status_string = f"dicommove: {result.completed} of " \
                f"{result.completed + result.failed + result.warning} images transferred"
            self.state.run(extra, self.state.ctx)
        if not result.ok:
            return f"***dicommove: remote DICOM error {result.status:04x}"
        return None

    def dicomget(self, ae: Any = None, level: Any = None, query: Any = None):
        from ..net.scu import AssociationFailed, find, get
        if ae is None or level is None:
            return None
        address = self.address(str(ae), host_port=True)
        built = self._query(query, str(level))
        if address is None or built is None or str(level).upper() == "WORKLIST":
            return None
        ident, model = built
        probe = copy.deepcopy(ident)
        if "SOPClassUID" not in probe:
            probe.SOPClassUID = ""
        probe.QueryRetrieveLevel = "IMAGE"
        received: list[Dataset] = []

        def on_store(event) -> int:
            ds = event.dataset
            ds.file_meta = event.file_meta
            received.append(ds)
            return 0x0000
        try:
            found = find(self.services.ae, address, probe, "study" if model != "patient" else model)
            classes = sorted({str(d.get("SOPClassUID", "")) for d in found if d.get("SOPClassUID")})
            if not classes:
                return self.state.wrap(Handle(items=[]))
            get_model = model if model != "patientstudyonly" else "patient"
            get(self.services.ae, address, ident, classes, on_store, get_model)
        except (AssociationFailed, OSError, RuntimeError, ValueError) as exc:
            self.services.logs.operator.printf(f"***dicomget: {exc}\n")
            return None
        return self.state.wrap(Handle(items=received, with_meta=True))

    def dicomstore(self, ae: Any = None, objects: Any = None):
        from ..net.scu import AssociationFailed, store
        address = self.address(str(ae or ""), host_port=True)
        items = [copy.deepcopy(d) for d in datasets_of(objects)]
        if address is None:
            return "Failed to connect to host"
        for ds in items:
            if not hasattr(ds, "file_meta") or "TransferSyntaxUID" not in getattr(ds, "file_meta", Dataset()):
                from pydicom.dataset import FileMetaDataset
                ds.file_meta = FileMetaDataset()
                ds.file_meta.TransferSyntaxUID = UID("1.2.840.10008.1.2.1")
        sendable = [ds for ds in items if "SOPClassUID" in ds]
        try:
            statuses = store(self.services.ae, address, sendable) if sendable else []
        except (AssociationFailed, OSError) as exc:
            self.services.logs.operator.printf(f"***dicomstore: {exc}\n")
            return "Failed to connect to host"
        responses = []
        it = iter(statuses)
        for ds in items:
            rsp = Dataset()
            if "SOPClassUID" in ds:
                status = next(it, -1)
                rsp.AffectedSOPClassUID = ds.SOPClassUID
                rsp.CommandField = 0x8001
                if "SOPInstanceUID" in ds:
                    rsp.AffectedSOPInstanceUID = ds.SOPInstanceUID
                rsp.Status = status if status >= 0 else 0xA700
            responses.append(rsp)
        return self.state.wrap(Handle(items=responses))

    def dicomecho(self, ae: Any = None, extra: Any = None):
        """C-ECHO; the response command object, or nil. ``extra`` elements go into the
        request (the server-command channel: 9999,0400 etc.)."""
        from ..net.control import ControlError, send_command
        address = self.address(str(ae or ""), host_port=True)
        if address is None:
            return None
        extras = datasets_of(extra)
        command = None
        upload = None
        if extras:
            from .elements import raw_bytes
            x = extras[0]
            raw = raw_bytes(x, 0x99990400, self.state.dictionary)
            command = raw.rstrip(b"\0") if raw else None
            upload = raw_bytes(x, 0x99990402, self.state.dictionary)
        try:
            if command is not None:
                reply = send_command(command, host=address.host, port=address.port, ae=self.services.ae,
                                     console_text=None, upload=upload)
            else:
                from ..net.scu import echo
                if not echo(self.services.ae, address):
                    return None
                reply = None
        except ControlError:
            return None
        rsp = Dataset()
        rsp.AffectedSOPClassUID = "1.2.840.10008.1.1"
        rsp.CommandField = 0x8030
        rsp.Status = 0
        if reply is not None and reply.has_payload:
            from .elements import set_raw
            set_raw(rsp, 0x99990401, "OB", reply.data())
        return self.state.wrap(Handle(rsp))

    def dicomprint(self, objects: Any = None, ae: Any = None, annotation: Any = None, extra: Any = None,
                   progress: Any = None):
        """Grayscale print SCU (:func:`dgate.net.print_scu.dicomprint`); nil on success."""
        from ..net.print_scu import PrintFailed, dicomprint
        address = self.address(str(ae or ""), host_port=True)
        items = datasets_of(objects)
        if address is None or not items:
            return "Failed to print DICOM image(s)"
        try:
            dicomprint(self.services.ae, address, items, "" if annotation is None else str(annotation),
                       "" if extra is None else str(extra))
        except PrintFailed as exc:
            self.services.logs.operator.printf(f"***dicomprint: {exc}\n")
            return "Failed to print DICOM image(s)"
        except Exception as exc:
            self.services.logs.operator.printf(f"***dicomprint: {type(exc).__name__}: {exc}\n")
            return "Failed to print DICOM image(s)"
        return None
