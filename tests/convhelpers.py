"""Helpers for the converter tests: a configured folder, real objects, a database."""
from __future__ import annotations

import copy
from pathlib import Path

from pydicom import examples
from pydicom.dataset import Dataset

from dgate.config import Configuration
from dgate.config.defaults import create_default_config
from dgate.config.ini import put_param
from dgate.convert import ConvertContext
from dgate.log import Logs


class ListSink:
    network = False

    def __init__(self) -> None:
        self.lines: list[str] = []

    def write(self, text: str) -> None:
        self.lines.append(text)

    def close(self) -> None:
        pass

    def text(self) -> str:
        return "".join(self.lines)


def folder(tmp: Path, **params: str) -> tuple[Configuration, Logs, ListSink]:
    """A default configuration in ``tmp`` with ``params`` in dicom.ini, tables created."""
    tmp.mkdir(parents=True, exist_ok=True)
    create_default_config(tmp)
    for key, value in params.items():
        put_param(tmp / "dicom.ini", key, value)
    config = Configuration.open(tmp)
    logs = Logs()
    sink = ListSink()
    logs.operator.send_to(sink)  # type: ignore[arg-type]
    logs.debug.send_to(sink)  # type: ignore[arg-type]
    from dgate.db import open_database
    db = open_database(config, logs)
    db.initialize_tables(0, echo=lambda *a: None)
    db.close()
    return config, logs, sink


def ct() -> Dataset:
    return copy.deepcopy(examples.ct)


def mr() -> Dataset:
    return copy.deepcopy(examples.mr)


def context(config: Configuration, logs: Logs, **kw) -> ConvertContext:
    kw.setdefault("calling", "CALLER")
    kw.setdefault("called", "SERVER")
    return ConvertContext(config, logs, **kw)
