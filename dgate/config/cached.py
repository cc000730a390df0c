"""A memoizing view of :class:`~.keys.Settings` for the server's hot paths.

Every value is remembered until dicom.ini is read again (the file's index object
changes on each reload: a change on disk found by the once-a-second check, or a forced
re-read after ``put_param``), so a store no longer pays a dictionary walk, alias loop
and ``atoi`` for each of the dozens of keys it consults.
"""
from __future__ import annotations

from .keys import Settings


class CachedSettings(Settings):
    def __init__(self, settings: Settings):
        super().__init__(settings.ini, settings.base_dir)
        self._index: object = None
        self._raw: dict[str, str | None] = {}
        self._ints: dict[tuple[str, int | None], int] = {}

    def _valid(self) -> None:
        self.ini.refresh()
        index = getattr(self.ini, "_index", None)
        if index is not self._index:
            self._index = index
            self._raw = {}
            self._ints = {}

    def raw(self, name: str) -> str | None:
        self._valid()
        try:
            return self._raw[name]
        except KeyError:
            value = super().raw(name)
            self._raw[name] = value
            return value

    def int(self, name: str, default: int | None = None) -> int:
        self._valid()
        key = (name, default)
        try:
            return self._ints[key]
        except KeyError:
            value = super().int(name, default)
            self._ints[key] = value
            return value


def use_cached_settings(config) -> None:
    """Give a Configuration (and everything reading ``config.settings``) the cached view."""
    if not isinstance(config.settings, CachedSettings):
        config.settings = CachedSettings(config.settings)
