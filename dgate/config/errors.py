"""Errors and warnings raised while reading Conquest configuration files."""
from __future__ import annotations

from dataclasses import dataclass


class ConfigError(Exception):
    """A configuration file cannot be used.

    The message always names the file, the line (1-based, 0 when the whole file is
    concerned) and what was expected, e.g.
    ``dicom.sql:12: expected { Group, Element, Column, Length, SQLType, DICOMType }``.
    """

    def __init__(self, path: str, line: int, message: str):
        self.path = str(path)
        self.line = line
        self.message = message
        where = f"{self.path}:{line}" if line else self.path
        super().__init__(f"{where}: {message}")


@dataclass(frozen=True)
class ConfigWarning:
    """A line the original would silently ignore or misread; we report it."""

    path: str
    line: int
    message: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.message}"
