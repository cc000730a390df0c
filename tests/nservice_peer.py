"""A test harness that puts dgate's DIMSE-N services (dgate.services) behind a pynetdicom
SCP, so they can be driven by real SCUs (dcmprscu, pynetdicom) before the server's own
DIMSE layer calls them. It does what the wiring has to do: request → NRequest, NResponse →
response, then the N-EVENT-REPORTs on the same association or a new one."""
from __future__ import annotations

import threading
import time

from pydicom.dataset import Dataset
from pynetdicom import AE, evt

from dgate.config.acrnema import Address
from dgate.net.commitment_scu import send_event_report
from dgate.services import commitment, mpps, print_scp
from dgate.services.nmessages import N_ACTION, N_CREATE, N_DELETE, N_EVENT_REPORT, N_GET, N_SET, NRequest
from dgate.services.table import SCP_ABSTRACT_SYNTAXES, AssociationServices

_KIND = {evt.EVT_N_GET: N_GET, evt.EVT_N_SET: N_SET, evt.EVT_N_ACTION: N_ACTION, evt.EVT_N_CREATE: N_CREATE,
         evt.EVT_N_DELETE: N_DELETE, evt.EVT_N_EVENT_REPORT: N_EVENT_REPORT}


class NServicePeer:
    def __init__(self, make_services, port: int, peers: dict[str, Address] | None = None,
                 report_delay: float = 0.2, ae_title: str = "DGATE"):
        self.make_services = make_services
        self.port = port
        self.peers = peers or {}
        self.report_delay = report_delay
        self.ae = AE(ae_title)
        for uid in SCP_ABSTRACT_SYNTAXES:
            self.ae.add_supported_context(uid, scp_role=True, scu_role=True)
        self.services: dict[int, AssociationServices] = {}
        self.sent_reports: list[tuple[str, int]] = []
        self.server = None

    def start(self) -> "NServicePeer":
        handlers = [(event, self._handle) for event in _KIND]
        self.server = self.ae.start_server(("127.0.0.1", self.port), block=False, evt_handlers=handlers)
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()

    def _request(self, event) -> NRequest:
        kind = _KIND[event.event]
        req = event.request
        if kind in (N_CREATE, N_EVENT_REPORT):
            sop_class, instance = req.AffectedSOPClassUID, req.AffectedSOPInstanceUID
        else:
            sop_class, instance = req.RequestedSOPClassUID, req.RequestedSOPInstanceUID
        data = {N_CREATE: "attribute_list", N_SET: "modification_list", N_ACTION: "action_information",
                N_EVENT_REPORT: "event_information"}.get(kind)
        dataset = getattr(event, data) if data else None
        type_id = int(getattr(req, "ActionTypeID", None) or getattr(req, "EventTypeID", None) or 0)
        attributes = [int(t) for t in (getattr(req, "AttributeIdentifierList", None) or [])] if kind == N_GET else []
        return NRequest(kind, str(sop_class), str(instance or ""), dataset, type_id, attributes,
                        calling_ae=event.assoc.requestor.ae_title, called_ae=event.assoc.acceptor.ae_title,
                        context_class=str(event.context.abstract_syntax))

    def _handle(self, event):
        services = self.services.setdefault(id(event.assoc), self.make_services())
        request = self._request(event)
        response = services.handle(request)
        status = Dataset()
        status.Status = response.status
        if response.error_comment:
            status.ErrorComment = response.error_comment
        ds = response.dataset
        if request.command == N_CREATE and not request.sop_instance and response.sop_instance and response.ok:
            ds = ds if ds is not None else Dataset()
            ds.AffectedSOPInstanceUID = response.sop_instance
        for report in response.events:
            threading.Thread(target=self._send_report, args=(event.assoc, report), daemon=True).start()
        return status, ds

    def _send_report(self, assoc, report) -> None:
        time.sleep(self.report_delay)
        if assoc.is_established:
            status, _ = assoc.send_n_event_report(report.dataset, report.event_type, report.sop_class,
                                                  report.sop_instance)
            self.sent_reports.append(("same", int(getattr(status, "Status", 0xFFFF))))
            return
        address = self.peers.get(report.destination_ae)
        if address is not None:
            self.sent_reports.append(("new", send_event_report(self.ae.ae_title, address, report)))


__all__ = ["NServicePeer", "commitment", "mpps", "print_scp"]
