"""Server start-up as dgate prints it (conquest-protocol.md §2.2 end, §9.3)."""
from __future__ import annotations

import os
import sys
import time

from ..db import DatabaseError, open_database
from ..net.server import DicomServer
from ..store.devices import devices
from ..version import DGATE_VERSION
from .context import Invocation


def serve(inv: Invocation) -> int:
    settings = inv.settings
    op = inv.logs.operator
    mags = devices(settings, "MAG")
    if mags and mags[0].root not in ("", "NULL"):
        printer = os.path.join(mags[0].root, "printer_files")
        try:
            os.makedirs(printer, exist_ok=True)
            with open(os.path.join(printer, "accesstest.log"), "a") as handle:
                handle.write("")
        except OSError:
            op.printf("*** Not enough rights to write in MAG0\n")
    try:
        db = open_database(inv.config, inv.logs)
        label = db.label
        db.close()
    except DatabaseError as exc:
        # keep serving: stores are refused with StorageFailedErrorCode until the database is back
        op.printf(f"***Unable to open database: {exc}\n")
        sys.stderr.write(f"dgate: *** database not available, serving anyway: {exc}\n")
        label = "unavailable"
    port = int(inv.tcp_port or 104)
    server = DicomServer(inv.config, inv.logs, ae_title=inv.my_ae, port=port)
    build = time.ctime(os.path.getmtime(__file__))
    mode = "runs in non-threaded debug mode" if inv.single_thread else "is running as threaded server"
    op.printf(f"DGATE ({DGATE_VERSION}, build {build}, bits 64) {mode}\n")
    op.printf(f"Database type: {label}\n")
    watcher = _start_watcher(inv, server)
    try:
        server.start(block=True)
    except OSError as exc:
        op.printf(f"***Failed to Listen () - bind error: {exc}\n")
        sys.stderr.write(f"dgate: cannot listen on port {port}: {exc}\n")
        return 1
    except KeyboardInterrupt:
        server.shutdown()
    finally:
        if watcher is not None:
            watcher.stop()
    return 0


def _start_watcher(inv: Invocation, server: DicomServer):
    """Poll ``<MAG0>/incoming`` (when it exists) and ``WatchFolder``."""
    from pathlib import Path

    from ..store.dropped import FolderWatcher
    folders = []
    mags = devices(inv.settings, "MAG")
    if mags:
        incoming = Path(mags[0].root) / "incoming"
        if incoming.is_dir():
            inv.logs.operator.printf(f"Monitoring for files in: {incoming}\n")
            folders.append(incoming)
    watch = inv.settings.str("WatchFolder")
    if watch and Path(watch).is_dir():
        inv.logs.operator.printf(f"Also monitoring for files in: {watch}\n")
        folders.append(Path(watch))
    if not folders:
        return None
    watcher = FolderWatcher(folders, server.ingest, inv.my_ae)
    watcher.start()
    return watcher
