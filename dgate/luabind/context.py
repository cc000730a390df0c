"""What a running Lua chunk sees of the server (dgate's ``scriptdata`` and PDU;
conquest-lua-web.md §1.4, §1.5).

:class:`LuaServices` is what a state may call outside itself (configuration, logs,
database, the store pipeline, the server-command address); the
defaults work in a stand-alone process and the server injects its own.
:class:`LuaContext` is one call's view: AEs, thread, peer address, the verdict (``rc``),
the preferred storage device, the file name of a dropped file.
"""
from __future__ import annotations

import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pydicom.dataset import Dataset

from ..config import Configuration
from ..log import Logs
from ..log import logs as process_logs

# Verdicts (conquest-lua-web.md §8.7)
RC_DEFAULT = 1
RC_DESTROY = 2
RC_STOP = 3
RC_REJECT = 6
RC_RETRY = 7
RC_DEFER = 8


def _stdout_writer(text: str) -> None:
    stream = sys.stdout
    try:
        stream.buffer.write(text.encode("latin-1", "replace"))
    except AttributeError:
        stream.write(text)
    stream.flush()


@dataclass
class LuaServices:
    """Process-wide things Lua functions use; every field can be injected."""

    config: Configuration | None = None
    logs: Logs = field(default_factory=lambda: process_logs)
    own_ae: str = ""
    server_host: str = "127.0.0.1"
    server_port: int | None = None
    open_db: Callable[[], Any] | None = None
    store: Callable[[Dataset, LuaContext], None] | None = None
    console: Callable[[str], None] | None = None       # print target; None → OperatorConsole
    html_out: Callable[[str], None] = _stdout_writer
    cgi: dict[str, str] = field(default_factory=dict)
    status_string: str = ""                              # Global.StatusString (dicommove progress)
    put_param: Callable[[str, str], None] | None = None  # Global.X = v; default: put_param over the channel
    _db: Any = None
    _db_lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def settings(self):
        return self.config.settings if self.config is not None else None

    def require_settings(self):
        """The dicom.ini settings; RuntimeError when this process has no configuration."""
        if self.config is None:
            raise RuntimeError("no dicom.ini: this needs the server configuration")
        return self.config.settings

    @property
    def ae(self) -> str:
        if self.own_ae:
            return self.own_ae
        if self.config is not None:
            return self.config.settings.str("MyACRNema")
        return "CONQUESTSRV1"

    @property
    def port(self) -> int:
        if self.server_port is not None:
            return int(self.server_port)
        if self.config is not None:
            try:
                return int(self.config.settings.str("TCPPort") or 5678)
            except ValueError:
                return 5678
        return 5678

    def database(self):
        """The database (one per services object, opened on first use)."""
        if self.open_db is not None:
            return self.open_db()
        if self.config is None:
            raise RuntimeError("no dicom.ini: the database is not available")
        with self._db_lock:
            if self._db is None:
                from ..db import open_database
                self._db = open_database(self.config, self.logs, own_ae=self.ae)
            return self._db

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None


@dataclass
class LuaContext:
    """One call's context (what ``scriptdata`` points at in the original)."""

    calling: str = ""
    called: str = ""
    thread: int = 0
    connected_ip: str = "0.0.0.0"
    rc: int = RC_DEFAULT
    storage: str | None = None          # Data.Storage; None outside import converters
    filename: str | None = None         # Filename global for dropped/added files
    converter: int = -2                 # converter number (-2: from Lua, quiet)
    convert: Any = None                 # the ConvertContext of the converter call this runs in
    extra_globals: dict[str, Any] = field(default_factory=dict)
