"""Conquest configuration files, read and written the way dgate 1.5.0e does.

:class:`Configuration` ties them together for one working folder (``BaseDir``):
dicom.ini (:mod:`.ini`, typed by :mod:`.keys`), dicom.sql (:mod:`.kfactor`),
acrnema.map (:mod:`.acrnema`), dgatesop.lst (:mod:`.soplist`) and dgate.dic
(:mod:`.dictionary`).
"""
from __future__ import annotations

import importlib

TYPE_CHECKING = False
if TYPE_CHECKING:
    from .configuration import Configuration
    from .errors import ConfigError, ConfigWarning
    from .ini import IniFile
    from .keys import Settings

__all__ = ["Configuration", "ConfigError", "ConfigWarning", "IniFile", "Settings"]

# Loaded on first use, so a light caller (the control client reading dicom.ini) does not
# pay for the parsers it does not need.
_WHERE = {"Configuration": ".configuration", "ConfigError": ".errors", "ConfigWarning": ".errors",
          "IniFile": ".ini", "Settings": ".keys"}


def __getattr__(name: str):
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value
