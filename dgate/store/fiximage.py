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

from pydicom.dataset import Dataset

from ..config.keys import Settings
from ..db.values import element_bytes


def _text(ds: Dataset, tag: int) -> str | None:
    raw = element_bytes(ds, tag)
    return None if raw is None else raw.decode("latin-1")


def fix_image(ds: Dataset, settings: Settings) -> bool:
    """Apply the repairs in place; True when anything changed."""
    changed = False
    if not settings.int("AllowEmptyPatientID"):
        patid = _text(ds, 0x00100020)
        if patid is None or not patid.strip(" \0"):
            ds.PatientID = "00000000"
            changed = True
        else:
            stripped = patid.rstrip(" \0")
            if settings.int("FixPhilips") and len(stripped) == 10 and stripped.isdigit() \
                    and stripped.startswith("00"):
                stripped = stripped.lstrip("0") or "0"
            if settings.int("FixKodak") and len(stripped) == 8 and stripped.startswith("0") \
                    and stripped[1:].isdigit():
                stripped = stripped[1:]
            if stripped != patid.rstrip(" ") or len(patid) - len(stripped) > 1:
                ds.PatientID = stripped
                changed = True
    if 0x00100010 not in ds:
        ds.PatientName = "NO NAME"
        changed = True
    for tag, private, keyword in ((0x0020000D, 0x00211070, "StudyInstanceUID"),
                                  (0x0020000E, 0x00211071, "SeriesInstanceUID")):
        if not (element_bytes(ds, tag) or b"").strip(b" \0"):
            fallback = (element_bytes(ds, private) or b"").decode("latin-1").strip(" \0")
            setattr(ds, keyword, fallback or "undefined")
            changed = True
    return changed
