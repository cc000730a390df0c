"""Errors and warnings raised while reading Conquest configuration files."""
from __future__ import annotations

import os
from pathlib import Path


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


class ConfigWarning:
    """A line the original would silently ignore or misread; we report it."""

    __slots__ = ("path", "line", "message")

    def __init__(self, path: str, line: int, message: str):
        self.path = path
        self.line = line
        self.message = message

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ConfigWarning) and \
            (self.path, self.line, self.message) == (other.path, other.line, other.message)

    def __hash__(self) -> int:
        return hash((self.path, self.line, self.message))

    def __repr__(self) -> str:
        return f"ConfigWarning({self.path!r}, {self.line!r}, {self.message!r})"

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.message}"


def read_config_text(path: str | os.PathLike) -> str:
    """A configuration file's text, bytes as Latin-1 (Conquest reads them as bytes);
    :class:`ConfigError` ``<path>: file not found`` when it is missing."""
    try:
        return Path(path).read_bytes().decode("latin-1")
    except FileNotFoundError as exc:
        raise ConfigError(str(path), 0, "file not found") from exc
