"""Database options of ``dgate``: ``-i -r -o -z -ar`` and the ``-f`` family
(conquest-protocol.md §2.2).
"""
from __future__ import annotations

import sys

from ..commands.context import split_patient
from ..config.keys import atoi
from ..convert import lifecycle as _lifecycle  # noqa: F401  (RegenConverter0/RegenFailConverter0)
from ..db import Database, DatabaseError, open_database
from ..store.formats import BadObject, uids_of_file
from ..store.regen import RegenSummary, regen_devices, regen_folder, regen_one_file
from ..store.removal import remove_from_pacs
from .context import Invocation


def _open(inv: Invocation) -> Database:
    try:
        return open_database(inv.config, inv.logs, own_ae=inv.my_ae)
    except DatabaseError as exc:
        inv.logs.operator.printf(f"***Unable to open database: {exc}\n")
        raise


def opt_initialize(inv: Invocation, text: str, rest: list) -> int:
    """-i[mode]: (re)create the tables; 0 full, 1 without keys/indices, 2 worklist only."""
    inv.logs.operator.printf("Initializing Tables\n")
    with _open(inv) as db:
        db.initialize_tables(atoi(text))
    return 0


def opt_regen(inv: Invocation, text: str, rest: list) -> int:
    """-r[mode]: initialise the tables, then re-enter every file on the MAG devices."""
    inv.logs.debug.printf("Regen Database\n")
    inv.logs.operator.printf("Step 1: Re-intialize SQL Tables\n")
    with _open(inv) as db:
        db.initialize_tables(atoi(text))
        inv.logs.operator.printf("Step 2: Load / Add DICOM Object files\n")
        summary = regen_devices(db, progress=inv.say, announce=_stdout)
    _finish(inv, summary, "Regeneration Complete")
    return 0


def _stdout(text: str) -> None:
    sys.stdout.write(text)
    sys.stdout.flush()


def _finish(inv: Invocation, summary: RegenSummary, done: str) -> None:
    inv.say(summary.line() + "\n")
    inv.logs.operator.printf(done + "\n")


def opt_create_database(inv: Invocation, text: str, rest: list) -> int:
    """-eSAPW DB USER PW: create the database and its login (always exit 0, as the original)."""
    from ..db.create import create_database
    words = (rest + ["", "", ""])[:3]
    try:
        message = create_database(inv.settings, text, words[0], words[1], words[2])
        inv.say(message + "\n")
    except DatabaseError as exc:
        inv.say(f"***{exc}\n")
    return 0


def opt_test_database(inv: Invocation, text: str, rest: list) -> int:
    """-o: open the database ten times and exercise a scratch table ``xtesttable``."""
    op = inv.logs.operator
    for attempt in range(1, 11):
        op.printf(f"Attempting to open database; test #{attempt} of 10\n")
        try:
            db = open_database(inv.config, inv.logs)
        except DatabaseError as exc:
            op.printf(f"***Unable to open database {inv.settings.str('SQLServer')}: {exc}\n")
            return 1
        driver = db.driver
        try:
            try:
                driver.execute("DROP TABLE xtesttable")
            except DatabaseError:
                pass
            driver.execute("CREATE TABLE xtesttable (Name varchar(254), AccessTime int)")
            for i in range(10):
                driver.execute(f"INSERT INTO xtesttable (Name, AccessTime) VALUES ({driver.text_param}, "
                               f"{driver.int_param})", [f"test {i}", i])
            rows = driver.query("SELECT Name, AccessTime FROM xtesttable")
            if db.driver.kind != "null" and len(rows) != 10:
                op.printf(f"***Database test failed: read {len(rows)} of 10 rows back\n")
                return 1
            driver.execute("DROP TABLE xtesttable")
        except DatabaseError as exc:
            op.printf(f"***Database test failed: {exc}\n")
            return 1
        finally:
            db.close()
    op.printf(" ---------- Succesful end of test -----------\n")
    return 0


def delete_from_pacs(inv: Invocation, keep_images: bool, **keys) -> int:
    """``RemoveFromPACS`` on this invocation's database."""
    with _open(inv) as db:
        return remove_from_pacs(db, inv.settings, keep_images, **keys)


def opt_zap_patient(inv: Invocation, text: str, rest: list) -> int:
    """-zPATID: delete a patient, files and index."""
    if not text:
        return 1
    inv.logs.operator.printf(f"Deleting patient: {text}\n")
    delete_from_pacs(inv, False, patient_id=text)
    return 0


def f_delete_db(level: str):
    def handler(inv: Invocation, text: str) -> int:
        patid, uid = split_patient(text) if level != "patient" else (text, "")
        inv.logs.operator.printf(f"Deleting database entries for {level}: {text}\n")
        keys = {"patient": {"patient_id": patid}, "study": {"patient_id": patid, "study_uid": uid},
                "series": {"patient_id": patid, "series_uid": uid},
                "image": {"patient_id": patid, "sop_uid": uid}}[level]
        delete_from_pacs(inv, True, **keys)
        return 0
    return handler


def f_enter_file(inv: Invocation, text: str) -> int:
    """-feFILE: re-enter a file that lies on a MAG device."""
    with _open(inv) as db:
        return 0 if regen_one_file(db, text) else 1


def f_delete_file(keep_files: bool):
    """-fdFILE (index entry only) and -fzFILE (file and index entry)."""
    def handler(inv: Invocation, text: str) -> int:
        try:
            sop, patid = uids_of_file(text)
        except (OSError, BadObject):
            inv.logs.operator.printf(f"***[DeleteImageFile] {text} -FAILED: Error on Load\n")
            return 1
        inv.logs.operator.printf(f"Deleting database entry for image: {text}\n")
        delete_from_pacs(inv, keep_files, sop_uid=sop, patient_id=patid)
        return 0
    return handler


def f_regen_dir(inv: Invocation, text: str) -> int:
    """-frDEVICE,DIR or -frDIR (device MAG0): regenerate one directory."""
    device, _, directory = text.rpartition(",") if "," in text else ("MAG0", "", text)
    return regen_directory(inv, device, directory)


def regen_directory(inv: Invocation, device: str, directory: str) -> int:
    with _open(inv) as db:
        summary = regen_folder(db, device, directory, progress=inv.say)
    if summary is None:
        return 1
    _finish(inv, summary, "Regeneration folders Complete")
    return 0


def opt_archive(inv: Invocation, text: str, rest: list) -> int:
    """-a…: only -arDEV[,DIR] (regenerate one device or folder) so far."""
    from .context import MissingCapability
    sub, arg = text[:1], text[1:]
    if sub != "r":
        raise MissingCapability(f"option -a{sub}", "archival")
    device, _, directory = arg.partition(",")
    if directory:
        inv.logs.operator.printf(f"Regen folders on single device: {device}\n")
        return regen_directory(inv, device, directory)
    inv.logs.operator.printf(f"Regen single device: {device}\n")
    with _open(inv) as db:
        summary = regen_devices(db, only=device, progress=inv.say, announce=_stdout)
    _finish(inv, summary, "Regeneration Complete")
    return 0


def f_add_file(inv: Invocation, text: str) -> int:
    """-faFILE[,PATID]: copy a file into the server (optionally with a new patient ID)."""
    from ..codec import plugin  # noqa: F401  (DroppedFileCompression, as in the server)
    from ..hl7 import plugin as _hl7  # noqa: F401  (*.hl7 files into the worklist, as in the server)
    from ..store.dropped import add_image_file
    from ..store.ingest import Ingest, StoreFailed
    filename, _, patid = text.partition(",")
    with _open(inv) as db:
        try:
            add_image_file(filename, Ingest(inv.config, inv.logs), db, inv.my_ae, patid)
        except StoreFailed as exc:
            inv.logs.operator.printf(f"{exc}\n")
            return 1
    return 0


def f_modify_patid(keep: bool):
    def run(inv: Invocation, text: str) -> int:
        """-fcPATID,FILE (in place) / -fkPATID,FILE (keep the original): ModifyPATIDofImageFile."""
        from ..commands.context import CommandContext
        from ..commands.convert_cmds import modify_patient_id
        patid, _, filename = text.partition(",")
        ctx = CommandContext(inv.config, inv.logs, inv.my_ae, int(inv.tcp_port or 0))
        try:
            return 0 if modify_patient_id(ctx, patid.strip(), filename.strip(), keep) else 1
        finally:
            ctx.close()
    return run


F_OPTIONS = {
    "p": f_delete_db("patient"), "t": f_delete_db("study"), "s": f_delete_db("series"),
    "i": f_delete_db("image"), "e": f_enter_file, "d": f_delete_file(True), "z": f_delete_file(False),
    "r": f_regen_dir, "a": f_add_file, "c": f_modify_patid(False), "k": f_modify_patid(True),
}
