"""The verbs of the converter language, one table entry each (conquest-lua-web.md §8.5/§8.6).

Dispatch is by case-insensitive prefix in the original's order; the import and export
tables differ in which verbs they hold and in where ``delete`` sits (an import-side
``delete patient …`` is an element delete, as in 1.5.0e). A handler gets the running
:class:`~.script.Run`, the substituted line and the unsubstituted statement.
"""
from __future__ import annotations

import os
import shlex
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Callable

from pydicom.dataset import Dataset
from pydicom.uid import ExplicitVRLittleEndian

from ..config.keys import atoi
from .elements import parse_tag, set_element, set_in_sequence, vr_of
from .match import match
from .rc import RC
from .script import Run, ScriptError

Handler = Callable[[Run, str, str], None]


def _path(run: Run, text: str) -> Path:
    p = Path(text.strip())
    return p if p.is_absolute() else run.ctx.base_dir() / p


def _ds(run: Run) -> Dataset:
    ds = run.dataset()
    if ds is None:
        raise ScriptError("no object")
    return ds


# -- forwarding --------------------------------------------------------------------------------

def forward(run: Run, line: str, raw: str) -> None:
    from .forward import parse_forward
    spec = parse_forward(line)
    fw = run.ctx.services.forwarder
    if fw is None:
        run.error(f": forward to {spec.destination}: no forwarder in this process")
        return
    channel = spec.channel if spec.channel is not None else run.part
    if spec.channel_any:
        channel = run.ctx.thread_number % 20
    if run.ctx.number >= -1:               # 1.5.0e numbers this line by channel, with a capital C
        run.ctx.logs.operator.printf(f"{run.ctx.label(channel, capital=True)}: forwarded object to "
                                     f"{spec.destination}\n")
    ok, retry = fw.forward(spec, _ds(run), run.ctx, channel, export=run.export, run=run)
    if run.export and retry:
        run.retry = True


# -- text files --------------------------------------------------------------------------------

def _write(run: Run, line: str, mode: str, skip: int) -> None:
    body = line[skip:]
    cut = body.find('" to ')
    if cut < 0:
        cut = body.find('" TO ')
    if cut < 0:
        raise ScriptError('expected "text" to <file>')
    text, target = body[:cut], body[cut + 5:]
    run.log(f" executes: {line}")
    try:
        with open(_path(run, target), mode, encoding="latin-1", errors="replace") as f:
            f.write(text)
    except OSError as exc:
        run.error(f": Failed to {'write' if mode == 'w' else 'append'} to file {target} ({exc})")


def write(run: Run, line: str, raw: str) -> None:
    _write(run, line, "w", 7)


def append(run: Run, line: str, raw: str) -> None:
    _write(run, line, "a", 8)


# -- element changes ---------------------------------------------------------------------------

def _printf(fmt: str, value: str) -> str:
    kind = "s"
    pct = fmt.find("%")
    if pct >= 0:
        for ch in fmt[pct:]:
            if ch in "sfxdg":
                kind = ch
                break
    try:
        if kind in "dx":
            return fmt % atoi(value)
        if kind in "fg":
            try:
                number = float(value)
            except ValueError:
                number = 0.0
            return fmt % number
        return fmt % value
    except (TypeError, ValueError) as exc:
        raise ScriptError(f"bad format {fmt!r}: {exc}")


def set_verb(run: Run, line: str, raw: str) -> None:
    off = 4
    variable = None
    tag = None
    if line[4:5].lower() in ("x", "y", "z") and line[5:6] == " ":
        variable, off = line[4].lower(), 5
    else:
        tag, used = parse_tag(line, 4, names=run.names)
        if tag is None:
            raise ScriptError(f"unknown element '{line[4:].split(' ')[0]}'")
        off = 4 + used
    index: int | None = 0
    if line[off:off + 1] == ".":
        if line[off + 1:off + 2] == "*":
            index, off = None, off + 2
        else:
            j = off + 1
            while j < len(line) and line[j].isdigit():
                j += 1
            index, off = int(line[off + 1:j] or 0), j
    child = None
    if line[off:off + 1] == "/":
        child, used = parse_tag(line, off + 1, names=run.names)
        if child is None:
            raise ScriptError("unknown sequence child element")
        off += 1 + used
    fmt = ""
    if line[off:off + 9].lower() == ' format "':
        close = line.find('"', off + 9)
        if close < 0:
            raise ScriptError("unterminated format")
        fmt, off = line[off + 9:close], close + 1
    word = line[off:off + 5].lower()
    if word in (' to "', ' if "'):
        body = line[off + 5:]
        end = body.rfind('"')
        if end < 0:
            raise ScriptError("unterminated value")
        value = body[:end]
        if fmt:
            value = _printf(fmt, value)
        if word == ' if "' and value == "":
            run.debug(f" executes void: {line}")
            return
        if variable:
            run.ctx.variables[variable] = value
        elif child is not None:
            assert tag is not None
            set_in_sequence(_ds(run), tag, index, child, value, run.names)
        else:
            assert tag is not None
            ds = _ds(run)
            if run.names.vr(tag) == "SQ" and tag not in ds:
                set_element(ds, tag, value, run.names)        # an empty sequence, whatever the value
                run.debug(f" created sequence: {tag >> 16:04x},{tag & 0xFFFF:04x}")
                return
            set_element(ds, tag, value, run.names)
        run.debug(f" executes: {line}")
    elif line[off:off + 7].lower() == " to nil":
        if tag is not None and child is None:
            ds = _ds(run)
            if tag in ds:
                del ds[tag]
                run.debug(f" deletes: {tag >> 16:04x},{tag & 0xFFFF:04x}")
    else:
        raise ScriptError("expected to \"…\", if \"…\" or to nil")


def setifempty(run: Run, line: str, raw: str) -> None:
    """``setifempty g,e|x|y|z to|if "v"``: set when absent or zero-length. As in 1.5.0e a
    ``to`` with an empty value does nothing, ``if`` with an empty value still creates an
    absent element (empty); "executes" goes to the operator log, "executes void" to debug."""
    if line[11:12].lower() in ("x", "y", "z") and line[12:13] == " ":
        variable, tag, off = line[11].lower(), None, 12
    else:
        tag, used = parse_tag(line, 11, keywords=False)
        if tag is None:
            raise ScriptError("setifempty needs gggg,eeee or x|y|z")
        variable, off = None, 11 + used
    word = line[off:off + 5].lower()
    if word not in (' to "', ' if "'):
        raise ScriptError('expected to "…" or if "…"')
    body = line[off + 5:]
    end = body.rfind('"')
    if end < 0:
        raise ScriptError("unterminated value")
    value = body[:end]
    if word == ' to "' and not value:
        run.debug(f" executes void: {line}")
        return
    if variable:
        if run.ctx.variables.get(variable):
            run.debug(f" executes void: {line}")
            return
        run.ctx.variables[variable] = value
        run.log(f" executes: {line}")
        return
    ds = _ds(run)
    assert tag is not None
    if tag not in ds or ds[tag].is_empty:
        set_element(ds, tag, value, run.names)
        run.log(f" executes: {line}")
    else:
        run.debug(f" executes void: {line}")


def delete_element(run: Run, line: str, raw: str) -> None:
    """``delete gggg,eeee`` (hex only; ``delete patient`` etc. land here on the import side
    and delete nothing, as in 1.5.0e)."""
    tag, _ = parse_tag(line, 7, keywords=False)
    ds = _ds(run)
    if tag is not None and tag in ds:
        del ds[tag]
        run.log(f" executes: {line}")
    else:
        run.debug(f" executes void: {line}")


def newuids(run: Run, line: str, raw: str) -> None:
    from .uidmods import new_uids
    low = line.lower()
    if low.startswith("newuids except "):
        new_uids(run.ctx, _ds(run), exceptions=line[15:] + "|")
    elif low.startswith("newuids stage "):
        new_uids(run.ctx, _ds(run), stage=line[14:])
    else:
        new_uids(run.ctx, _ds(run))
    run.log(f" executes: {line}")


def olduids(run: Run, line: str, raw: str) -> None:
    from .uidmods import old_uids
    low = line.lower()
    if low.startswith("olduids except "):
        old_uids(run.ctx, _ds(run), exceptions=line[15:] + "|")
    elif low.startswith("olduids stage "):
        old_uids(run.ctx, _ds(run), stage=line[14:])
    else:
        old_uids(run.ctx, _ds(run))
    run.log(f" executes: {line}")


def _kodak(run: Run, add: bool) -> None:
    ds = _ds(run)
    pid = str(ds.get("PatientID", "")).rstrip()
    if not add and len(pid) == 8 and pid.startswith("0"):
        ds.PatientID = pid[1:]
    elif add and len(pid) == 7 and pid.isdigit():
        ds.PatientID = "0" + pid


def fixkodak(run: Run, line: str, raw: str) -> None:
    _kodak(run, False)
    run.log(f" executes: {line}")


def unfixkodak(run: Run, line: str, raw: str) -> None:
    _kodak(run, True)
    run.log(f" executes: {line}")


# -- files -------------------------------------------------------------------------------------

def copy(run: Run, line: str, raw: str) -> None:
    import shutil
    body = line[5:]
    cut = body.find(" to ")
    if cut < 0:
        cut = body.find(" TO ")
    if cut < 0:
        raise ScriptError("expected copy <file> to <file|folder>")
    source, target = _path(run, body[:cut]), _path(run, body[cut + 4:])
    if target.is_dir():
        target = target / Path(run.file_name().replace("\\", "/")).name
    run.log(f" executes: {line}")
    try:
        shutil.copyfile(source, target)
    except OSError as exc:
        run.error(f": Failed to copy {source} to {target} ({exc})")


def _save_dataset(ds: Dataset, path: Path) -> None:
    from pydicom.dataset import FileMetaDataset
    ds = Dataset(ds)
    meta = getattr(ds, "file_meta", None)
    if meta is None or "TransferSyntaxUID" not in meta:
        meta = FileMetaDataset()
        meta.TransferSyntaxUID = ExplicitVRLittleEndian
    if "MediaStorageSOPClassUID" not in meta and "SOPClassUID" in ds:
        meta.MediaStorageSOPClassUID = ds.SOPClassUID
    if "MediaStorageSOPInstanceUID" not in meta and "SOPInstanceUID" in ds:
        meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.file_meta = meta
    path.parent.mkdir(parents=True, exist_ok=True)
    ds.save_as(path, enforce_file_format=True)


def save_to(run: Run, line: str, raw: str) -> None:
    run.log(f" executes: {line}")
    _save_dataset(_ds(run), _path(run, line[8:]))


def save_frame(run: Run, line: str, raw: str) -> None:
    from .imaging import extract_frame
    cut = line.find(" to ")
    if cut < 0:
        raise ScriptError("expected save frame <n> to <file>")
    run.log(f" executes: {line}")
    _save_dataset(extract_frame(_ds(run), atoi(line[11:])), _path(run, line[cut + 4:]))


def save_image(run: Run, line: str, raw: str) -> None:
    from .imaging import save_picture
    opts = {"level": 0, "window": 0, "frame": 0, "size": 0, "quality": 95}
    target = None
    for key in (" to ", " as "):
        at = line.find(key)
        if at >= 0:
            target = line[at + 4:]
    for key in opts:
        at = line.find(f" {key} ")
        if at >= 0:
            opts[key] = atoi(line[at + len(key) + 2:])
    gamma = 1.0
    at = line.find(" gamma ")
    if at >= 0:
        try:
            gamma = float(line[at + 7:].split(" ")[0])
        except ValueError:
            gamma = 1.0
    if target is None:
        raise ScriptError("save bmp|gif|jpg needs to|as <file>")
    for key in (" level ", " window ", " frame ", " size ", " gamma ", " quality "):
        target = target.split(key)[0]
    size = opts["size"] if opts["size"] >= 10 else 4096
    run.debug(f" executes: {line}")
    save_picture(_ds(run), _path(run, target), line[5:8].lower(), size, opts["level"], opts["window"],
                 opts["frame"], gamma, opts["quality"])


def temp_dir(run: Run) -> str | None:
    """Where ``NewTempFile`` puts its files: TempDir, else ``<MAG0>/printer_files``."""
    configured = run.ctx.settings.str("TempDir")
    if configured:
        return configured
    from ..store.devices import devices
    mags = devices(run.ctx.settings, "MAG")
    if not mags:
        return None
    folder = Path(mags[0].root) / "printer_files"
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError:
        return None
    return str(folder)


def process_with(run: Run, line: str, raw: str) -> None:
    from ..store.formats import read_file
    ds = _ds(run)
    fd, temp = tempfile.mkstemp(suffix=".dcm", dir=temp_dir(run))
    os.close(fd)
    try:
        _save_dataset(ds, Path(temp))
        command = line[13:]
        if not command.endswith(" "):
            command += " "
        command += temp
        run.log(f" executes: process with {command}")
        subprocess.run(command, shell=True, cwd=run.ctx.base_dir(), timeout=3600)
        run.replace_dataset(read_file(temp).dataset())
    finally:
        try:
            os.unlink(temp)
        except OSError:
            pass


def tomono(run: Run, line: str, raw: str) -> None:
    from .imaging import to_mono
    to_mono(_ds(run))
    run.debug(f": {line}")


def crop(run: Run, line: str, raw: str) -> None:
    from .imaging import crop_pixels
    numbers = [atoi(x) for x in line[5:].split(",")] + [0, 0, 9999, 9999][len(line[5:].split(",")):]
    crop_pixels(_ds(run), numbers[0], numbers[1], numbers[2], numbers[3])
    run.debug(f": {line}")


def scrub(run: Run, line: str, raw: str) -> None:
    from .imaging import scrub as do_scrub
    do_scrub(_ds(run), line[6:])
    run.debug(f": {line}")


def system(run: Run, line: str, raw: str) -> None:
    subprocess.run(line[7:], shell=True, cwd=run.ctx.base_dir())
    run.debug(f": {line}")


def mkdir(run: Run, line: str, raw: str) -> None:
    _path(run, line[6:]).mkdir(parents=True, exist_ok=True)
    run.debug(f": {line}")


def rm(run: Run, line: str, raw: str) -> None:
    try:
        _path(run, line[3:]).unlink()
    except OSError:
        pass
    run.debug(f": {line}")


# -- verdicts ----------------------------------------------------------------------------------

def destroy2(run: Run, line: str, raw: str) -> None:
    run.rc = RC.DESTROY


def destroy(run: Run, line: str, raw: str) -> None:
    run.log(": destroyed received image")
    run.rc = RC.DESTROY


def reject(run: Run, line: str, raw: str) -> None:
    run.log(": rejected received image")
    run.rc = RC.REJECT


def retry(run: Run, line: str, raw: str) -> None:
    if run.ctx.family.startswith("RejectedImage"):
        run.log(": retry storing rejected image")
        run.rc = RC.RETRY
    else:
        default(run, line, raw)


def defer(run: Run, line: str, raw: str) -> None:
    run.log(": defer for exportconverter")
    run.rc = RC.DEFER
    if run.export:
        run.retry = True


def storage(run: Run, line: str, raw: str) -> None:
    run.ctx.storage = line[8:].strip()
    run.log(f": sets preferred storage to {run.ctx.storage}")


def testmode(run: Run, line: str, raw: str) -> None:
    run.ctx.test_mode = line[9:]
    run.log(f": sets testmode to {line[9:]}")


def virtualservermask(run: Run, line: str, raw: str) -> None:
    mask = atoi(line[18:]) & 0xFFFF
    run.log(f": sets virtual server mask to {mask}")
    _ds(run).add_new(0x99990802, "US", mask)
    run.ctx.virtual_mask = mask


def virtualserver(run: Run, line: str, raw: str) -> None:
    n = atoi(line[14:])
    ds = _ds(run)
    from .virtual import mask_value
    mask = (mask_value(ds) | (1 << n)) & 0xFFFF
    run.log(f": enables virtual server {n}")
    ds.add_new(0x99990802, "US", mask)
    run.ctx.virtual_mask = mask


def compression(run: Run, line: str, raw: str) -> None:
    from .recompress import recompress
    code = line[12:].strip()
    run.log(f": compression to {code}")
    try:
        run.replace_dataset(recompress(_ds(run), code, run.ctx))
    except Exception as exc:
        run.ctx.logs.operator.printf(f"**** {run.ctx.label(run.part)}: compression to {code} failed ({exc})\n")


# -- queues ------------------------------------------------------------------------------------

def _enqueue(run: Run, op, logged: str = "") -> None:
    queue = run.ctx.services.delayed
    if queue is None:
        run.error(f": queued {op.operation}: no delayed-operation queue in this process")
        return
    if queue.enqueue(op):
        run.log(f": queued {logged or op.describe()}")


def prefetch(run: Run, line: str, raw: str) -> None:
    from .delayed import DelayedOp
    pid = run.patient_id()
    _enqueue(run, DelayedOp(operation="prefetch", patient_id=pid, delay=0), f"prefetch {pid}")


def preretrieve(run: Run, line: str, raw: str) -> None:
    from .delayed import DelayedOp
    pid, server = run.patient_id(), line[12:].strip()
    _enqueue(run, DelayedOp(operation="preretrieve", patient_id=pid, server=server),
             f"preretrieve of patient {pid} from {server}")


def delayed(run: Run, line: str, raw: str) -> None:
    from .delayed import parse_delayed
    _enqueue(run, parse_delayed(line, _ds(run), run.ctx.settings.int("ForwardCollectDelay")))


# -- flow --------------------------------------------------------------------------------------

def stop(run: Run, line: str, raw: str) -> None:
    run.debug(": stop")
    run.rc = RC.STOP


def silentstop(run: Run, line: str, raw: str) -> None:
    run.rc = RC.STOP


def return_verb(run: Run, line: str, raw: str) -> None:
    run.debug(": return")
    run.rc = RC.RETURN


def _script_entry(run: Run, name: str) -> str:
    value = run.ctx.config.ini.get("scripts", name)
    return value or ""


def call(run: Run, line: str, raw: str) -> None:
    name = line[5:]
    text = _script_entry(run, name)
    if text:
        run.rc = run.nested(text)
        return
    path = _path(run, name)
    if not path.is_file():
        run.error(f" script not found: {name}")
        return
    run.debug(f": {line}")
    run.rc = run.run_file(path)


def script(run: Run, line: str, raw: str) -> None:
    body = line[8:]
    if body.endswith('"'):
        body = body[:-1]
    run.rc = run.nested(body)


def lua(run: Run, line: str, raw: str) -> None:
    from .luahook import run_lua
    code = line[4:] if line[:4].lower() == "lua:" else line[5:-1] if line.endswith('"') else line[5:]
    rc = run_lua(code, run)
    run.rc = rc
    if run.export and rc == RC.DEFER:
        run.retry = True


def _two(line: str, skip: int) -> tuple[str, str] | None:
    body = line[skip:]
    end = body.rfind('"')
    if end < 0:
        return None
    body = body[:end]
    for sep in ('","', '", "'):
        at = body.find(sep)
        if at >= 0:
            return body[:at], body[at + len(sep):]
    return None


def _condition(test: Callable[[str, str], bool], skip: int) -> Handler:
    def handler(run: Run, line: str, raw: str) -> None:
        pair = _two(line, skip)
        if pair is None:
            raise ScriptError('expected "a","b"')
        run.debug(f" executes: {line}")
        if not test(*pair):
            run.rc = RC.SKIP
    return handler


def _single(test: Callable[[str], bool], skip: int) -> Handler:
    def handler(run: Run, line: str, raw: str) -> None:
        body = line[skip:]
        end = body.rfind('"')
        if end < 0:
            raise ScriptError('expected "text"')
        run.debug(f" executes: {line}")
        if not test(body[:end]):
            run.rc = RC.SKIP
    return handler


def between(run: Run, line: str, raw: str) -> None:
    pair = _two(line, 9)
    if pair is None:
        raise ScriptError('expected between "h1","h2"')
    h1, h2 = atoi(pair[0]), atoi(pair[1])
    h = time.localtime().tm_hour
    run.debug(f" executes: {line}")
    if h2 >= h1 and (h < h1 or h >= h2):
        run.rc = RC.SKIP
    if h2 < h1 and (h < h1 and h >= h2):
        run.rc = RC.SKIP


def nop(run: Run, line: str, raw: str) -> None:
    run.log(f": {line}")


def default(run: Run, line: str, raw: str) -> None:
    """Import: a ``[scripts]`` entry, a ``.lua`` file or a converter script file."""
    if not line:
        return
    text = _script_entry(run, line)
    if text:
        run.rc = run.nested(text)
        return
    name, paren, args = line.partition("(")
    path = Path(name)
    if not path.is_file():
        path = run.ctx.base_dir() / name
    shipped = shipped_lua_file(name) if ".lua" in name and not (run.ctx.base_dir() / name).is_file() else None
    if not path.is_file() and shipped is None:
        run.error(f" error: {line}")
        return
    if ".lua" in name:
        from .luahook import run_lua
        command_line = None
        if paren:
            command_line = args[1:-2] if args.startswith('"') and args.endswith('")') else args.rstrip(")")
        # as 1.5.0e, relative to BaseDir even when found elsewhere; ours also runs the scripts
        # shipped with dgate (lua/anonymize_script.lua …) when BaseDir has no such file
        target = f"[[{shipped}]]" if shipped is not None else f"Global.basedir..'{name.replace(chr(92), chr(92) * 2)}'"
        run.rc = run_lua(f"dofile({target})", run, command_line=command_line, preset=RC.OK)
        return
    run.debug(f": {line}")
    run.rc = run.run_file(path)


def shipped_lua_file(name: str) -> Path | None:
    """``lua/x.lua`` (or ``x.lua``) in the ``lua/`` folder shipped with dgate, if there."""
    from ..luabind.lua_files import shipped_lua_dir
    folder = shipped_lua_dir()
    if folder is None:
        return None
    parts = Path(name.replace("\\", "/")).parts
    tail = Path(*parts[1:]) if len(parts) > 1 and parts[0] == "lua" else Path(name)
    found = folder / tail
    return found if found.is_file() and ".." not in tail.parts else None


def export_default(run: Run, line: str, raw: str) -> None:
    """Export: a statement with ``%`` runs as a shell command; otherwise it names an
    executable given the file name (legacy)."""
    if not line:
        return
    if "%" in raw:
        command = line
        run.log(f" executes: {command}")
    else:                                   # legacy: not logged by 1.5.0e either
        command = f"{line} {shlex.quote(run.file_name())}"
    subprocess.run(command, shell=True, cwd=run.ctx.base_dir())
    from ..store.ingest import counters
    counters.add("exported")


# -- the tables --------------------------------------------------------------------------------

_DELAYED = tuple(f"{op} {lvl}" for op in ("forward", "get", "delete", "process", "submit", "submit2")
                 for lvl in ("patient", "study", "series", "image")) + ("merge study ",)
_IFS: list[tuple[str, Handler]] = [
    ('ifnotempty "', _single(lambda s: s != "", 12)),
    ('ifempty "', _single(lambda s: s == "", 9)),
    ('ifequal "', _condition(lambda a, b: a == b, 9)),
    ('ifnotequal "', _condition(lambda a, b: a != b, 12)),
    ('ifmatch "', _condition(lambda a, b: match(a, b), 9)),
    ('ifnotmatch "', _condition(lambda a, b: not match(a, b), 12)),
    ('ifnumequal "', _condition(lambda a, b: atoi(a) == atoi(b), 12)),
    ('ifnumnotequal "', _condition(lambda a, b: atoi(a) != atoi(b), 15)),
    ('ifnumgreater "', _condition(lambda a, b: atoi(a) > atoi(b), 14)),
    ('ifnumless "', _condition(lambda a, b: atoi(a) < atoi(b), 11)),
    ('between "', between),
]

IMPORT_VERBS: list[tuple[str, Handler]] = [
    ("forward to", forward), ("forward compressed", forward),
    ('write "', write), ('append "', append),
    ("set ", set_verb), ("setifempty ", setifempty), ("delete ", delete_element),
    ("newuids", newuids), ("olduids", olduids), ("fixkodak", fixkodak), ("unfixkodak", unfixkodak),
    ("copy ", copy), ("save to ", save_to), ("save frame ", save_frame),
    ("save bmp ", save_image), ("save gif ", save_image), ("save jpg ", save_image),
    ("process with ", process_with), ("tomono", tomono), ("crop ", crop), ("scrub ", scrub),
    ("system ", system), ("mkdir ", mkdir), ("rm ", rm),
    ("destroy2", destroy2), ("destroy", destroy), ("reject", reject), ("retry", retry), ("defer", defer),
    ("storage ", storage), ("testmode ", testmode),
    ("virtualservermask ", virtualservermask), ("virtualserver ", virtualserver),
    ("compression ", compression), ("prefetch", prefetch), ("preretrieve ", preretrieve),
    *[(p, delayed) for p in _DELAYED],
    ("stop", stop), ("silentstop", silentstop), ("return", return_verb), ("call ", call),
    ('script "', script), ('lua "', lua), ("lua:", lua),
    *_IFS,
    ("nop", nop),
]

EXPORT_VERBS: list[tuple[str, Handler]] = [
    ("forward to", forward), ("forward compressed", forward),
    ('write "', write), ('append "', append), ("copy ", copy),
    ("save to ", save_to), ("save frame ", save_frame),
    ("save bmp ", save_image), ("save gif ", save_image), ("save jpg ", save_image),
    ('lua "', lua), ("lua:", lua),
    *_IFS,
    ("prefetch", prefetch),
    *[(p, delayed) for p in _DELAYED],
    ("preretrieve ", preretrieve),
    ("system ", system), ("mkdir ", mkdir), ("rm ", rm), ("testmode ", testmode), ("nop", nop),
    ("stop", stop), ("return", return_verb), ("call ", call), ("silentstop", silentstop), ("defer", defer),
]


def dispatch(run: Run, line: str, raw: str) -> None:
    """Run the first verb whose prefix the line starts with (case-insensitive)."""
    low = line.lower()
    for prefix, handler in (EXPORT_VERBS if run.export else IMPORT_VERBS):
        if low.startswith(prefix):
            handler(run, line, raw)
            return
    (export_default if run.export else default)(run, line, raw)


__all__ = ["IMPORT_VERBS", "EXPORT_VERBS", "dispatch", "vr_of"]
