"""What every web request can use: configuration, logs, a database per worker thread,
the ingest adapter and the metadata cache. One :class:`WebContext` per web server."""
from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path

from ..config import Configuration
from ..db import Database, open_database
from ..log import Logs
from ..store.devices import device_root, locate
from .settings import WebSettings


@dataclass
class WebContext:
    config: Configuration
    logs: Logs
    web: WebSettings
    own_ae: str = ""
    dicom_port: int = 0
    started_at: float = 0.0
    status: object | None = None        # optional hub object with status_text()/queues (injected)
    _local: threading.local = field(default_factory=threading.local, repr=False)
    _all_dbs: list[Database] = field(default_factory=list, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _ingest: object | None = field(default=None, repr=False)
    _metadata: object | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        s = self.config.settings
        self.own_ae = self.own_ae or s.str("MyACRNema")
        self.dicom_port = self.dicom_port or int(s.str("TCPPort") or 104)

    @property
    def settings(self):
        return self.config.settings

    @property
    def lossy_quality(self) -> int:
        """dicom.ini ``LossyQuality`` (Conquest's JPEG quality), for lossy syntaxes asked for."""
        quality = self.settings.int("LossyQuality")
        return quality if 0 < quality <= 100 else 95

    def db(self) -> Database:
        """The calling thread's database connection (opened on first use)."""
        db = getattr(self._local, "db", None)
        if db is None:
            db = open_database(self.config, self.logs, own_ae=self.own_ae)
            self._local.db = db
            with self._lock:
                self._all_dbs.append(db)
        return db

    def forget_db(self) -> None:
        """Drop this thread's connection after a database error (reopened on next use)."""
        db = getattr(self._local, "db", None)
        if db is not None:
            self._local.db = None
            with self._lock:
                if db in self._all_dbs:
                    self._all_dbs.remove(db)
            try:
                db.close()
            except Exception:
                pass

    def close(self) -> None:
        with self._lock:
            dbs, self._all_dbs = self._all_dbs, []
        for db in dbs:
            try:
                db.close()
            except Exception:
                pass

    def locate(self, device: str, object_file: str, roots: dict[str, str | None] | None = None) -> Path | None:
        """A stored file: on its recorded device first (``roots`` caches device folders
        for a batch of look-ups), else wherever ``FindPhysicalDevice`` finds it."""
        device = device or "MAG0"
        if roots is not None:
            if device not in roots:
                roots[device] = device_root(self.settings, device)
            root = roots[device]
            if root:
                path = Path(root) / (object_file or "").replace("\\", "/")
                if path.is_file():
                    return path
        return locate(self.settings, device, object_file or "")

    @property
    def metadata(self):
        if self._metadata is None:
            from .metadata import MetadataCache
            self._metadata = MetadataCache(self.web.metadata_cache)
        return self._metadata

    @property
    def ingest(self):
        if self._ingest is None:
            from ..store.ingest import Ingest
            self._ingest = Ingest(self.config, self.logs)
        return self._ingest

    def use_ingest(self, ingest: object) -> None:
        """Share the server's ingest pipeline (the hub passes its own)."""
        self._ingest = ingest
