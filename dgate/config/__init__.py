"""Conquest configuration files, read and written the way dgate 1.5.0e does.

:class:`Configuration` ties them together for one working folder (``BaseDir``):
dicom.ini (:mod:`.ini`, typed by :mod:`.keys`), dicom.sql (:mod:`.kfactor`),
acrnema.map (:mod:`.acrnema`), dgatesop.lst (:mod:`.soplist`) and dgate.dic
(:mod:`.dictionary`).
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from .acrnema import ACRNemaMap
from .dictionary import Dictionary
from .errors import ConfigError, ConfigWarning
from .ini import IniFile
from .keys import Settings
from .kfactor import DatabaseDefinition, load_kfactor
from .soplist import SopList

__all__ = ["Configuration", "ConfigError", "ConfigWarning", "IniFile", "Settings"]


@dataclass
class Configuration:
    """All configuration of one dgate working folder.

    dicom.ini is re-read when it changes; dicom.sql is parsed once (as the original,
    which loads it at start-up only); acrnema.map is kept in memory until ``read_amap``;
    dgatesop.lst is read fresh for every association.
    """

    base_dir: Path
    ini_path: Path
    ini: IniFile = field(init=False)
    settings: Settings = field(init=False)
    _kfactor: DatabaseDefinition | None = field(default=None, init=False)
    _amap: ACRNemaMap | None = field(default=None, init=False)
    _dictionary: Dictionary | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        self.base_dir = Path(self.base_dir)
        self.ini_path = Path(self.ini_path)
        self.ini = IniFile(self.ini_path)
        self.settings = Settings(self.ini, self.base_dir)

    @classmethod
    def open(cls, base_dir: str | os.PathLike, ini_name: str = "dicom.ini") -> "Configuration":
        base = Path(base_dir)
        ini_path = Path(ini_name) if os.sep in ini_name or "/" in ini_name else base / ini_name
        return cls(base, ini_path)

    # -- derived files -----------------------------------------------------------------
    @property
    def kfactor(self) -> DatabaseDefinition:
        if self._kfactor is None:
            self._kfactor = load_kfactor(self.settings.path("kFactorFile"),
                                         truncate=self.settings.int("TruncateFieldNames"),
                                         max_length=self.settings.int("MaxFieldLength"))
        return self._kfactor

    @property
    def amap(self) -> ACRNemaMap:
        if self._amap is None:
            self._amap = ACRNemaMap.load(self.settings.path("ACRNemaMap"))
        return self._amap

    def reload_amap(self) -> ACRNemaMap:
        self._amap = None
        return self.amap

    def soplist(self) -> SopList:
        return SopList.load(self.settings.path("SOPClassList"))

    @property
    def dictionary(self) -> Dictionary:
        if self._dictionary is None:
            self._dictionary = Dictionary.load(self.settings.path("Dictionary"))
        return self._dictionary

    def table_names(self) -> dict[str, str]:
        s = self.settings
        return {"patient": s.str("PatientTableName"), "study": s.str("StudyTableName"),
                "series": s.str("SeriesTableName"), "image": s.str("ImageTableName"),
                "worklist": s.str("WorkListTableName")}

    def warnings(self) -> list[str]:
        """Every line of the loaded files that the original would misread or ignore."""
        found: list[str] = [str(w) for w in self.ini.warnings]
        for key, value, line in self.settings.non_numeric_ints():
            found.append(f"{self.ini_path}:{line}: {key} = '{value}' is not a number; "
                         "Conquest reads it as 0")
        if self._amap is not None:
            found += [str(w) for w in self._amap.warnings]
        if self._dictionary is not None:
            found += [str(w) for w in self._dictionary.warnings]
        return found
