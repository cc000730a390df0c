"""What a server command can use, and the ``out`` argument convention (§5.0)."""
from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..config import Configuration
from ..db import Database, open_database
from ..log import Logs


@dataclass
class CommandContext:
    """One command's view of the server."""

    config: Configuration
    logs: Logs
    own_ae: str
    port: int
    upload: bytes | None = None
    server: Any = None                    # the server object, when run inside one (its interface is the core's)
    peer: str = ""
    _db: Database | None = field(default=None, repr=False)

    @property
    def settings(self):
        return self.config.settings

    def db(self) -> Database:
        if self._db is None:
            self._db = open_database(self.config, self.logs, own_ae=self.own_ae)
        return self._db

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None

    @contextlib.contextmanager
    def file_or_upload(self, filename: str, default_suffix: str, prefix: str) -> Iterator[str]:
        """``filename``, or, when the command came with uploaded bytes (9999,0402), a
        temporary file holding them (with ``filename``'s extension, else ``default_suffix``),
        removed afterwards."""
        if self.upload is None:
            yield filename
            return
        suffix = "." + filename.rpartition(".")[2] if "." in filename else default_suffix
        handle, temp = tempfile.mkstemp(suffix=suffix, prefix=prefix)
        try:
            with os.fdopen(handle, "wb") as out:
                out.write(self.upload)
            yield temp
        finally:
            os.unlink(temp)

    def counters_add(self, name: str) -> None:
        from ..store.ingest import counters
        counters.add(name)


def split_patient(text: str) -> tuple[str, str]:
    """``[patid:]uid`` as (patid, uid); the last ``:`` splits, a bare uid gives ('', uid)."""
    if ":" in text:
        patid, _, uid = text.rpartition(":")
        return patid, uid
    return "", text


def deliver(output: str | bytes, out: str, pre: bool = False) -> bytes | None:
    """Apply the ``out`` argument: empty/``binary`` → reply, ``cgi`` → with a
    ``Content-type`` header (``<pre>`` for dumps), ``pre`` → ``<pre>`` prefix (dumps only),
    anything else → written to that server-side path with no reply."""
    data = output.encode("latin-1", "replace") if isinstance(output, str) else output
    out = out.strip()
    if out in ("", "binary"):
        return data
    if out == "cgi":
        return b"Content-type: text/html\n\n" + (b"<pre>" if pre else b"") + data
    if out == "pre" and pre:
        return b"<pre>" + data
    Path(out).write_bytes(data)
    return None
