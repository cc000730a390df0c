"""The :class:`Configuration` of one dgate working folder (dicom.ini, dicom.sql,
acrnema.map, dgatesop.lst, dgate.dic). Each parser is imported when its file is first
read, so a listing such as ``dgate -m`` loads only what it prints."""
from __future__ import annotations

import os
from pathlib import Path

from .ini import IniFile
from .keys import Settings

TYPE_CHECKING = False
if TYPE_CHECKING:
    from .acrnema import ACRNemaMap
    from .dictionary import Dictionary
    from .kfactor import DatabaseDefinition
    from .soplist import SopList


class Configuration:
    """All configuration of one dgate working folder.

    dicom.ini is re-read when it changes; dicom.sql is parsed once (as the original,
    which loads it at start-up only); acrnema.map is kept in memory until ``read_amap``;
    dgatesop.lst is read fresh for every association.
    """

    def __init__(self, base_dir: str | os.PathLike, ini_path: str | os.PathLike):
        self.base_dir = Path(base_dir)
        self.ini_path = Path(ini_path)
        self.ini = IniFile(self.ini_path)
        self.settings = Settings(self.ini, self.base_dir)
        self._kfactor: DatabaseDefinition | None = None
        self._amap: ACRNemaMap | None = None
        self._dictionary: Dictionary | None = None

    def __repr__(self) -> str:
        return f"Configuration({str(self.base_dir)!r}, {str(self.ini_path)!r})"

    @classmethod
    def open(cls, base_dir: str | os.PathLike, ini_name: str = "dicom.ini") -> "Configuration":
        base = Path(base_dir)
        ini_path = Path(ini_name) if os.sep in ini_name or "/" in ini_name else base / ini_name
        return cls(base, ini_path)

    # -- derived files -----------------------------------------------------------------
    @property
    def kfactor(self) -> DatabaseDefinition:
        if self._kfactor is None:
            from .kfactor import load_kfactor
            self._kfactor = load_kfactor(self.settings.path("kFactorFile"),
                                         truncate=self.settings.int("TruncateFieldNames"),
                                         max_length=self.settings.int("MaxFieldLength"))
        return self._kfactor

    @property
    def amap(self) -> ACRNemaMap:
        if self._amap is None:
            from .acrnema import ACRNemaMap
            self._amap = ACRNemaMap.load(self.settings.path("ACRNemaMap"))
        return self._amap

    def reload_amap(self) -> ACRNemaMap:
        self._amap = None
        return self.amap

    def soplist(self) -> SopList:
        from .soplist import SopList
        return SopList.load(self.settings.path("SOPClassList"))

    @property
    def dictionary(self) -> Dictionary:
        if self._dictionary is None:
            from .dictionary import Dictionary
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
