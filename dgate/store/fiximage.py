"""``FixImage``: repairs applied to network and dropped objects before they are stored
(conquest-storage.md §3.3 step 1). Regeneration does not apply them.

* a missing, empty or all-space PatientID becomes ``00000000`` (unless
  ``AllowEmptyPatientID = 1``), surplus trailing spaces of the ID are removed;
* a missing PatientName becomes ``NO NAME``;
* ``FixPhilips = 1``: a 10-character all-digit ID starting with ``00`` loses its leading
  zeros; ``FixKodak = 1``: an 8-character ID ``0NNNNNNN`` loses the leading zero;
* a missing StudyInstanceUID / SeriesInstanceUID is taken from private 0021,1070 /
  0021,1071, or else set to ``undefined``.
"""
from __future__ import annotations

from typing import Callable

from pydicom.dataset import Dataset

from ..config.keys import Settings
from ..db.values import element_bytes

Raw = Callable[[int], "bytes | None"]
KEYWORDS = {0x00100020: "PatientID", 0x00100010: "PatientName", 0x0020000D: "StudyInstanceUID",
            0x0020000E: "SeriesInstanceUID"}


def image_fixes(raw: Raw, settings: Settings) -> dict[int, tuple[str, bytes]]:
    """The repairs as ``{tag: (VR, new value bytes)}``, from raw top-level values
    (``raw(tag)`` is None when the element is absent); empty when nothing changes."""
    fixes: dict[int, tuple[str, bytes]] = {}
    if not settings.int("AllowEmptyPatientID"):
        value = raw(0x00100020)
        patid = None if value is None else value.decode("latin-1")
        if patid is None or not patid.strip(" \0"):
            fixes[0x00100020] = ("LO", b"00000000")
        else:
            stripped = patid.rstrip(" \0")
            if settings.int("FixPhilips") and len(stripped) == 10 and stripped.isdigit() \
                    and stripped.startswith("00"):
                stripped = stripped.lstrip("0") or "0"
            if settings.int("FixKodak") and len(stripped) == 8 and stripped.startswith("0") \
                    and stripped[1:].isdigit():
                stripped = stripped[1:]
            if stripped != patid.rstrip(" ") or len(patid) - len(stripped) > 1:
                fixes[0x00100020] = ("LO", stripped.encode("latin-1"))
    if raw(0x00100010) is None:
        fixes[0x00100010] = ("PN", b"NO NAME")
    for tag, private in ((0x0020000D, 0x00211070), (0x0020000E, 0x00211071)):
        if not (raw(tag) or b"").strip(b" \0"):
            fallback = (raw(private) or b"").strip(b" \0")
            fixes[tag] = ("UI", fallback or b"undefined")
    return fixes


def fix_image(ds: Dataset, settings: Settings) -> bool:
    """Apply the repairs to a decoded data set in place; True when anything changed."""
    fixes = image_fixes(lambda tag: element_bytes(ds, tag), settings)
    for tag, (_vr, value) in fixes.items():
        setattr(ds, KEYWORDS[tag], value.decode("latin-1"))
    return bool(fixes)
