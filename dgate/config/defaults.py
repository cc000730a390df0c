"""The default configuration set, created when ``dgate`` starts in a folder without one.

Conquest's installer writes dicom.ini, dicom.sql, acrnema.map, dgatesop.lst and
dgate.dic into the server folder; we do the same from the templates in ``conf/``
(``${CONQUEST}`` becomes the folder, ``${UIDPREFIX}`` a fresh UID root). The
dgatesop.lst template is produced by :func:`render_default_soplist` (every storage SOP
class pydicom and pynetdicom know); a test keeps the two in step.
"""
from __future__ import annotations

import os
import sys
import time
import uuid
from pathlib import Path

from .dictionary import standard_dictionary

CONF_FILES = ("dicom.ini", "dicom.sql", "acrnema.map", "dgatesop.lst")

TRANSFER_SYNTAXES = (
    ("LittleEndianImplicit", "1.2.840.10008.1.2", ""),
    ("LittleEndianExplicit", "1.2.840.10008.1.2.1", ""),
    ("BigEndianExplicit", "1.2.840.10008.1.2.2", ""),
    ("JPEGBaseLine1", "1.2.840.10008.1.2.4.50", "LittleEndianExplicit"),
    ("JPEGExtended2and4", "1.2.840.10008.1.2.4.51", "LittleEndianExplicit"),
    ("JPEGSpectralNH6and8", "1.2.840.10008.1.2.4.53", "LittleEndianExplicit"),
    ("JPEGFullProgressionNH10and12", "1.2.840.10008.1.2.4.55", "LittleEndianExplicit"),
    ("JPEGLossless14", "1.2.840.10008.1.2.4.57", "LittleEndianExplicit"),
    ("JPEGLossless", "1.2.840.10008.1.2.4.70", "LittleEndianExplicit"),
    ("JPEGLS_Lossless", "1.2.840.10008.1.2.4.80", "LittleEndianExplicit"),
    ("JPEGLS_Lossy", "1.2.840.10008.1.2.4.81", "LittleEndianExplicit"),
    ("JPEG2000LosslessOnly", "1.2.840.10008.1.2.4.90", "LittleEndianExplicit"),
    ("JPEG2000", "1.2.840.10008.1.2.4.91", "LittleEndianExplicit"),
    ("RLELossless", "1.2.840.10008.1.2.5", "LittleEndianExplicit"),
)

QUERY_RETRIEVE = (
    ("PatientRootQuery", "1.2.840.10008.5.1.4.1.2.1.1"),
    ("PatientRootRetrieve", "1.2.840.10008.5.1.4.1.2.1.2"),
    ("PatientRootGet", "1.2.840.10008.5.1.4.1.2.1.3"),
    ("StudyRootQuery", "1.2.840.10008.5.1.4.1.2.2.1"),
    ("StudyRootRetrieve", "1.2.840.10008.5.1.4.1.2.2.2"),
    ("StudyRootGet", "1.2.840.10008.5.1.4.1.2.2.3"),
    ("PatientStudyOnlyQuery", "1.2.840.10008.5.1.4.1.2.3.1"),
    ("PatientStudyOnlyRetrieve", "1.2.840.10008.5.1.4.1.2.3.2"),
    ("PatientStudyOnlyGet", "1.2.840.10008.5.1.4.1.2.3.3"),
    ("FindModalityWorkList", "1.2.840.10008.5.1.4.31"),
    ("PatientRootRetrieveNKI", "1.2.826.0.1.3680043.2.135.1066.5.1.4.1.2.1.2"),
    ("StudyRootRetrieveNKI", "1.2.826.0.1.3680043.2.135.1066.5.1.4.1.2.2.2"),
    ("PatientStudyOnlyRetrieveNKI", "1.2.826.0.1.3680043.2.135.1066.5.1.4.1.2.3.2"),
)

# the print classes as 1.5.0e's list has them (meta classes and their members), then the
# services beyond the original: storage commitment and MPPS (dgate.services.plugin)
N_SERVICES = (
    ("BasicGrayscalePrintManagementMeta", "1.2.840.10008.5.1.1.9"),
    ("BasicColorPrintManagementMeta", "1.2.840.10008.5.1.1.18"),
    ("BasicFilmSession", "1.2.840.10008.5.1.1.1"),
    ("BasicFilmBox", "1.2.840.10008.5.1.1.2"),
    ("BasicGrayscaleImageBox", "1.2.840.10008.5.1.1.4"),
    ("BasicColorImageBox", "1.2.840.10008.5.1.1.4.1"),
    ("BasicPrinter", "1.2.840.10008.5.1.1.16"),
    ("StorageCommitmentPushModel", "1.2.840.10008.1.20.1"),
    ("ModalityPerformedProcedureStep", "1.2.840.10008.3.1.2.3.3"),
    ("ModalityPerformedProcedureStepRetrieve", "1.2.840.10008.3.1.2.3.5"),
)


def storage_sop_classes() -> list[tuple[str, str]]:
    """(keyword, UID) of every storage SOP class known to pydicom or pynetdicom."""
    from pydicom.uid import UID_dictionary
    from pynetdicom import sop_class

    found: dict[str, str] = {uid: name for name, uid in sop_class._STORAGE_CLASSES.items()}
    for uid, (name, kind, _info, _retired, keyword) in UID_dictionary.items():
        if kind == "SOP Class" and "Storage" in name and "Commitment" not in name \
                and "Directory" not in name and uid not in found:
            found[uid] = keyword or name.replace(" ", "")
    return sorted(((name, uid) for uid, name in found.items()),
                  key=lambda item: [int(p) for p in item[1].split(".")])


def render_default_soplist() -> str:
    """Text of the shipped dgatesop.lst."""
    out = [
        "#",
        "# DICOM Application / sop / transfer UID list (dgatesop.lst).",
        "#",
        "# Every incoming association is checked against this file; it is re-read for",
        "# each association. Columns: name, UID (or AE title), type. Types: sop,",
        "# transfer, application, LocalAE (accepted called AE), RemoteAE (accepted",
        "# calling AE). An empty list of a type accepts everything.",
        "#",
        "#None                                      none                                         RemoteAE",
        "#None                                      none                                         LocalAE",
        f"{'DICOM':<42} {'1.2.840.10008.3.1.1.1':<44} application",
        f"{'Verification':<42} {'1.2.840.10008.1.1':<44} sop",
    ]
    out += [f"{name:<42} {uid:<44} sop" for name, uid in storage_sop_classes()]
    out += [f"{name:<42} {uid:<44} sop" for name, uid in QUERY_RETRIEVE]
    out += [f"{name:<42} {uid:<44} sop" for name, uid in N_SERVICES]
    out.append("#")
    out.append("# Transfer syntaxes, in the order they are preferred when a peer offers several.")
    for name, uid, extra in TRANSFER_SYNTAXES:
        out.append(f"{name:<42} {uid:<44} transfer {extra}".rstrip())
    out.append(f"#{'DeflatedExplicitLittleEndian':<41} {'1.2.840.10008.1.2.1.99':<44} transfer")
    return "\n".join(out) + "\n"


def conf_dir() -> Path:
    """Folder holding the configuration templates (repository ``conf/`` or installed copy)."""
    here = Path(__file__).resolve().parents[2] / "conf"
    if (here / "dicom.ini").exists():
        return here
    installed = Path(sys.prefix) / "share" / "dgate" / "conf"
    if (installed / "dicom.ini").exists():
        return installed
    raise FileNotFoundError("dgate configuration templates (conf/) are not installed")


def new_uid_prefix() -> str:
    """A fresh UID root under 2.25 (a UUID as integer), short enough for dgate's suffixes."""
    return f"2.25.{uuid.uuid4().int}"


def create_default_config(base_dir: str | os.PathLike, now: float | None = None) -> list[Path]:
    """Write the default configuration set into ``base_dir``; existing files are kept.

    Returns the files written. Also creates ``data/`` and ``data/dbase/``.
    """
    base = Path(base_dir).resolve()
    templates = conf_dir()
    written: list[Path] = []
    substitutions = {"${CONQUEST}": str(base), "${UIDPREFIX}": new_uid_prefix(),
                     "${DATE}": time.ctime(now if now is not None else time.time())}
    for name in CONF_FILES:
        target = base / name
        if target.exists():
            continue
        text = (templates / name).read_text(encoding="latin-1")
        for key, value in substitutions.items():
            text = text.replace(key, value)
        target.write_text(text, encoding="latin-1")
        written.append(target)
    dic = base / "dgate.dic"
    if not dic.exists():
        dic.write_text(standard_dictionary().to_text(), encoding="latin-1")
        written.append(dic)
    (base / "data" / "dbase").mkdir(parents=True, exist_ok=True)
    return written
