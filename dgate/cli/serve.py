"""Server start-up as dgate prints it (conquest-protocol.md §2.2 end, §9.3).

Order: ``printer_files`` write test on MAG0; the database is opened and, when it has no
tables (a first run in an empty folder), they are created as ``dgate -i`` would and the
log says so; stale temporary files of earlier runs are removed; the start-up lines; then
the hub (:class:`dgate.hub.hub.Hub`) listens and runs until it is stopped. The server
command dispatcher is injected here, the one place that knows both the command table
and the network core.
"""
from __future__ import annotations

import os
import sys
import time

from ..config.cached import use_cached_settings
from ..db import DatabaseError, open_database
from ..hub.hub import Hub, worker_count
from ..store.devices import devices
from ..store.tempfiles import clean_stale
from ..version import DGATE_VERSION
from .context import Invocation


def serve(inv: Invocation) -> int:
    use_cached_settings(inv.config)
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
    label = _open_database(inv)
    stale = clean_stale(d.root for d in devices(settings, "MAG") if d.root not in ("", "NULL"))
    if stale:
        op.printf(f"Removed {len(stale)} unfinished temporary file(s) of an earlier run\n")
    port = int(inv.tcp_port or 104)
    workers = worker_count(settings, inv.single_thread)
    build = time.ctime(os.path.getmtime(__file__))
    mode = "runs in non-threaded debug mode" if inv.single_thread else "is running as threaded server"
    op.printf(f"DGATE ({DGATE_VERSION}, build {build}, bits 64) {mode}\n")
    op.printf(f"Database type: {label}\n")
    hub = Hub(inv.config, inv.logs, inv.my_ae[:16], port, _command_handler(inv), workers,
              worker_args={"base": str(inv.config.base_dir), "ini": str(inv.config.ini_path)})
    return hub.run()


def _open_database(inv: Invocation) -> str:
    op = inv.logs.operator
    try:
        db = open_database(inv.config, inv.logs)
    except DatabaseError as exc:
        # keep serving: stores are refused with StorageFailedErrorCode until the database is back
        op.printf(f"***Unable to open database: {exc}\n")
        sys.stderr.write(f"dgate: *** database not available, serving anyway: {exc}\n")
        return "unavailable"
    try:
        lines: list[str] = []
        if db.ensure_tables(echo=lines.append):
            op.printf("Database had no tables: created them (as dgate -i does)\n")
        return db.label
    except DatabaseError as exc:
        op.printf(f"***Database has no tables and they could not be created: {exc}\n")
        return db.label
    finally:
        db.close()


def _command_handler(inv: Invocation):
    """``server_command`` of the hub: the command table of :mod:`dgate.commands`."""
    def handle(text: str, upload: bytes | None, peer: str, calling: str, hub: Hub) -> bytes | None:
        from ..commands import dispatch
        from ..commands.context import CommandContext
        ctx = CommandContext(inv.config, inv.logs, hub.ae_title, hub.port, upload=upload, server=hub, peer=peer)
        try:
            return dispatch(ctx, text)
        finally:
            ctx.close()
    return handle
