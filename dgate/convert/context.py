"""What a converter line runs with: the association, the configuration and the services.

A :class:`ConvertContext` is built by each server path (ingest, C-FIND, C-MOVE, the
export queue, a server command) and handed to the interpreter together with the
pydicom :class:`~pydicom.dataset.Dataset` being worked on. Services the converter
language reaches (forwarding, the delayed-operation queue, Lua, recompression) come in
through :class:`Services`, so a worker process can pass proxies to hub services.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from pydicom.dataset import Dataset

from ..config import Configuration
from ..log import Logs
from ..log import logs as process_logs


@dataclass
class Services:
    """Process-wide helpers the converter verbs call; any may be None (then the verb logs
    that it is unavailable)."""

    forwarder: Any = None                       # forward.Forwarder
    delayed: Any = None                         # delayed.DelayedQueue (``enqueue(op)``)
    lua: Callable[..., int] | None = None       # as dgate.luabind.run_converter (code, dataset, context, *,
                                                # command_line, rc) -> rc; None: that function
    recompress: Callable[[Dataset, str], Dataset] | None = None


@dataclass
class ConvertContext:
    """One converter call's surroundings (the ``CallImportConverterN`` arguments)."""

    config: Configuration
    logs: Logs = field(default_factory=lambda: process_logs)
    calling: str = ""
    called: str = ""
    family: str = "Import"              # ini key prefix before "Converter": Export, Query, Retrieve…
    number: int = 0                     # N; -1 for script()/call
    modality: str | None = None         # given by the caller for incoming images
    station: str | None = None
    sop: str | None = None
    patient_id: str | None = None       # export: from the queue entry
    file_name: str = ""                 # %f: export = stored file; import = computed lazily
    variables: dict[str, str] = field(default_factory=dict)   # %x %y %z (per association)
    db_factory: Callable[[], Any] | None = None                # -> Database
    services: Services = field(default_factory=Services)
    own_ae: str = ""
    port: int = 0
    association: Any = None             # for Lua's Association object
    lua_state: Any = None               # the Lua state of this association/export (dgate.luabind); None:
                                        # chosen (and kept here) by dgate.luabind.run_converter
    command: Dataset | None = None      # the DIMSE request (Lua's Command): C-STORE, C-FIND, C-MOVE…
    filename: str | None = None         # Lua's Filename: the dropped/added file being imported
    thread_number: int = 0
    move_destination: str = ""          # Retrieve(Result)Converter: %s
    # outcomes a caller reads back after the run
    storage: str = ""                   # ``storage MAGn`` preference
    test_mode: str = ""                 # ``testmode`` text
    virtual_mask: int | None = None     # ``virtualserver(mask)`` → 9999,0802
    _db: Any = field(default=None, repr=False)

    @property
    def settings(self):
        return self.config.settings

    def db(self):
        """The database (opened on first use)."""
        if self._db is None:
            if self.db_factory is not None:
                self._db = self.db_factory()
            else:
                from ..db import open_database
                self._db = open_database(self.config, self.logs, own_ae=self.own_ae or None)
        return self._db

    def close(self) -> None:
        if self._db is not None and self.db_factory is None:
            self._db.close()
        self._db = None

    def label(self, part: int, capital: bool = False) -> str:
        """``Importconverter0.2`` (or ``ImportConverter0.2``) prefix of log lines."""
        family = self.family if self.number >= 0 else "Import"   # script()/call: "Importconverter-1"
        return f"{family}{'C' if capital else 'c'}onverter{self.number}.{part}"

    def base_dir(self) -> Path:
        return self.config.base_dir

    def child(self, **changes) -> "ConvertContext":
        """A copy sharing variables, services and the database (for ``call``/``script``)."""
        from dataclasses import replace
        new = replace(self, **changes)
        new._db = self._db
        return new
