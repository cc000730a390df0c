"""``dgate -a…`` archival options (conquest-protocol.md §2): ``-as#[,DEV]``,
``-abJUKEBOXa.b[,DEV]``, ``-amFROM,TO``, ``-au``, ``-acDEV``, ``-avDEV``, ``-atDEV``,
``-adDEV``, ``-aeFROM,TO``; ``-ar`` regenerates a device (dbtools)."""
from __future__ import annotations

import sys

from ..config.keys import atoi
from .context import Invocation


def opt_archive(inv: Invocation, text: str, rest: list) -> int:
    from ..codec import plugin  # noqa: F401  (ArchiveCompression, as in the server)
    from ..db import open_database
    from ..store.archive import Archiver
    from . import dbtools
    sub, arg = text[:1].lower(), text[1:]
    if sub == "r":
        return dbtools.opt_archive(inv, text, rest)
    if sub not in "sbmucvtde" or not sub:
        sys.stdout.write("Unknown archiving option\n")
        return 1
    if sub in "me" and "," not in arg:
        sys.stdout.write("option requires two device names\n")
        return 1
    inv.logs.operator.printf(" ---------- Start archival operation  -----------\n")
    db = open_database(inv.config, inv.logs, own_ae=inv.my_ae)
    try:
        from ..convert.lifecycle import archive_runner
        arch = Archiver(db, inv.settings, inv.logs, each=archive_runner(inv.config, inv.logs, inv.my_ae))
        first, _, second = arg.partition(",")
        mag = f"MAG{second}" if second else "MAG?"
        ok = {
            "s": lambda: arch.select_lru(mag, atoi(first)),
            "b": lambda: arch.prepare_bunch(first, mag),
            "m": lambda: arch.move_data(first, second),
            "u": arch.restore_flags,
            "c": lambda: arch.compare_bunch(arg),
            "v": lambda: arch.verify_mirror(arg),
            "t": lambda: arch.test_images(arg),
            "d": lambda: arch.delete_bunch(arg),
            "e": lambda: arch.rename(first, second),
        }[sub]()
    finally:
        db.close()
    inv.logs.operator.printf(" ---------- End of archival operation -----------\n")
    return 0 if ok else 1
