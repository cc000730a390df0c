"""What the server accepts on an association, from dgatesop.lst (conquest-storage.md §5.2).

* every ``sop`` line becomes a supported presentation context offering the ``transfer``
  lines; the first transfer syntax the peer proposes that is in the list is chosen;
* ``RemoteAE`` lines limit the calling AE (reject reason 3), ``LocalAE`` lines the
  called AE (reject reason 7); empty lists accept everything;
* private or unknown SOP classes are registered with pynetdicom (storage, or C-MOVE
  for the NKI private retrieve classes) so that they can be served.

The list is re-read when the file changes, so edits apply to following associations.
"""
from __future__ import annotations

import os
import threading
from typing import Callable

from pynetdicom import AE, sop_class
from pynetdicom.acse import ACSE
from pynetdicom.service_class import QueryRetrieveServiceClass, StorageServiceClass

from ..config.soplist import SopList

NKI_MOVE = {
    "1.2.826.0.1.3680043.2.135.1066.5.1.4.1.2.1.2": "PatientRootRetrieveNKI",
    "1.2.826.0.1.3680043.2.135.1066.5.1.4.1.2.2.2": "StudyRootRetrieveNKI",
    "1.2.826.0.1.3680043.2.135.1066.5.1.4.1.2.3.2": "PatientStudyOnlyRetrieveNKI",
}
_registered: set[str] = set()
_lock = threading.Lock()


def ensure_known(uid: str, name: str) -> None:
    """Register a UID pynetdicom does not know, so a service class can handle it."""
    from pynetdicom.sop_class import uid_to_service_class
    with _lock:
        if uid in _registered:
            return
        _registered.add(uid)
    if uid in NKI_MOVE:
        sop_class.register_uid(uid, NKI_MOVE[uid], QueryRetrieveServiceClass, "C-MOVE")
        return
    if uid_to_service_class(uid).__name__ != "ServiceClass":
        return
    keyword = "".join(ch for ch in name if ch.isalnum()) or "Private"
    if not keyword[0].isalpha():
        keyword = "X" + keyword
    try:
        sop_class.register_uid(uid, f"{keyword}_{len(_registered)}", StorageServiceClass)
    except Exception:
        pass


def apply_soplist(ae: AE, soplist: SopList) -> None:
    """Replace the AE's supported contexts and AE-title rules with those of the list."""
    transfers = [e.uid for e in soplist.transfer] or ["1.2.840.10008.1.2"]
    contexts = []
    seen = set()
    for entry in soplist.sop:
        if entry.uid in seen:
            continue
        seen.add(entry.uid)
        ensure_known(entry.uid, entry.name)
        contexts.append(entry.uid)
    ae.supported_contexts = []
    for uid in contexts:
        ae.add_supported_context(uid, transfers, scu_role=True, scp_role=True)
    ae.require_calling_aet = [e.uid for e in soplist.remoteae]
    local = {e.uid for e in soplist.localae}
    ae.dgate_accepts_called = (lambda called: SopList._title(called) in local) if local else None
    ae.require_called_aet = bool(local)


class SopListWatcher:
    """Keeps an AE's contexts in step with dgatesop.lst (checked before associations)."""

    def __init__(self, ae: AE, load: Callable[[], SopList], path: str):
        self.ae = ae
        self.load = load
        self.path = path
        self.mtime: float | None = None
        self.current: SopList | None = None
        self.refresh()
        ae.dgate_before_negotiation = self.refresh

    def refresh(self) -> SopList:
        try:
            mtime = os.stat(self.path).st_mtime
        except OSError:
            mtime = None
        if self.current is None or mtime != self.mtime:
            self.current = self.load()
            self.mtime = mtime
            apply_soplist(self.ae, self.current)
        return self.current


def _install_called_ae_hook() -> None:
    """Before pynetdicom negotiates: re-read dgatesop.lst if it changed, and let
    ``LocalAE`` lines accept several called AE titles (pynetdicom accepts one)."""
    if getattr(ACSE, "_dgate_hooked", False):
        return
    original = ACSE._negotiate_as_acceptor

    def negotiate(self) -> None:
        before = getattr(self.assoc.ae, "dgate_before_negotiation", None)
        if before is not None:
            before()
            self.assoc.acceptor.supported_contexts = self.assoc.ae.supported_contexts
        check = getattr(self.assoc.ae, "dgate_accepts_called", None)
        if check is not None:
            called = self.requestor.primitive.called_ae_title
            if check(called):
                self.acceptor.ae_title = called.strip()
            elif self.acceptor.ae_title.strip() == called.strip():
                self.acceptor.ae_title = "NOT-" + called.strip()[:12]
        original(self)

    ACSE._negotiate_as_acceptor = negotiate
    ACSE._dgate_hooked = True


_install_called_ae_hook()
