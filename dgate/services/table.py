"""The DIMSE-N service table: (command field, SOP class) → the service that answers it.

The DIMSE layer builds one :class:`AssociationServices` per association and, for every
N-request, calls :meth:`AssociationServices.handle`; it sends the returned response and then
each :class:`~.nmessages.EventReport` in ``response.events``. Requests whose SOP class is a
member of a print meta SOP class arrive on that meta class's presentation context
(:data:`~.print_scp.META_MEMBERS`).
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable

from ..config import Configuration
from ..db import Database
from ..log import Logs
from ..log import logs as process_logs
from ..store.devices import device_root
from . import commitment, mpps, print_scp
from .nmessages import N_ACTION, N_EVENT_REPORT, N_GET, N_SET, NRequest, NResponse, failure

SERVICE_TABLE: dict[tuple[int, str], str] = {key: "print" for key in print_scp.OPERATIONS}
SERVICE_TABLE.update({
    (N_ACTION, commitment.STORAGE_COMMITMENT): "commitment",
    (N_EVENT_REPORT, commitment.STORAGE_COMMITMENT): "commitment-results",
    (0x0140, mpps.MPPS): "mpps", (N_SET, mpps.MPPS): "mpps", (N_GET, mpps.MPPS_RETRIEVE): "mpps",
})
# presentation contexts (abstract syntaxes) the SCP accepts for these services, and the role
SCP_ABSTRACT_SYNTAXES = (print_scp.GRAYSCALE_META, print_scp.COLOR_META, commitment.STORAGE_COMMITMENT,
                         mpps.MPPS, mpps.MPPS_RETRIEVE)


class AssociationServices:
    """The DIMSE-N services of one association (the print objects live as long as it)."""

    def __init__(self, config: Configuration, database: Callable[[], Database], logs: Logs | None = None,
                 own_ae: str = "", printserver: print_scp.PrintHook | None = None):
        settings = config.settings
        self.logs = logs or process_logs
        mag0 = Path(device_root(settings, "MAG0") or ".")
        prefix = settings.str("UIDPrefix")
        self.print = print_scp.PrintService(mag0 / "printer_files", self.logs, printserver, prefix,
                                            settings.int("PrintMaxFilmBoxes"), settings.int("PrintMaxImageBoxes"))
        self.commitment = commitment.CommitmentService(database, settings, self.logs, own_ae)
        self.mpps = mpps.MPPSService(mag0 / "mpps", database, self.logs, prefix)

    def handle(self, request: NRequest) -> NResponse:
        kind = SERVICE_TABLE.get((request.command, request.sop_class))
        if kind == "print":
            return self.print.handle(request)
        if kind == "commitment":
            return self.commitment.handle(request)
        if kind == "commitment-results":
            return commitment.results.receive(request)
        if kind == "mpps":
            return self.mpps.handle(request)
        return failure(0x0122 if not any(c == request.sop_class for _, c in SERVICE_TABLE) else 0x0211,
                       "SOP class or operation not supported", request)
