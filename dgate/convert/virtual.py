"""Virtual servers (``VirtualServerFor0..9``; dgate.cpp VirtualQuery/VirtualServer2).

``VirtualServerFor<N> = AE[,FIXKODAK][,NONVIRTUAL]`` makes this server answer for the
data of AE too. :func:`find` is called by the C-FIND path with the local answers: for
every N whose bit is set in the identifier's 9999,0802 mask (absent/0 = all) the query
goes to that AE (through VirtualServerQueryConverter0; each answer through
VirtualServerQueryResultConverter0, destroy drops it), and the answers are merged with
the local ones without duplicates. :func:`fetch_missing` is called by the C-MOVE/C-GET
path: objects the virtual servers hold and this server does not are C-MOVEd here first
(in groups of at most 64 SOP UIDs, per series when ``VirtualServerPerSeries<N>`` is
exceeded), so the move can serve them from the local store.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass

from pydicom.dataset import Dataset

from ..config.keys import atoi
from ..net import scu

LEVEL_KEYS = {"PATIENT": ("PatientID",), "STUDY": ("StudyInstanceUID",),
              "SERIES": ("SeriesInstanceUID",), "IMAGE": ("SOPInstanceUID",), "WORKLIST": ()}


@dataclass
class VirtualServer:
    index: int
    ae: str
    params: str = ""

    @property
    def fixkodak(self) -> bool:
        return "fixkodak" in self.params.lower()

    @property
    def nonvirtual(self) -> bool:
        return "nonvirtual" in self.params.lower()


def servers(settings) -> list[VirtualServer]:
    found = []
    for i in range(10):
        value = settings.str(f"VirtualServerFor{i}", "")
        if value:
            ae, _, params = value.partition(",")
            found.append(VirtualServer(i, ae.strip(), params))
    return found


def mask_value(ds: Dataset) -> int:
    """The 9999,0802 virtual-server mask of ``ds`` (0 when absent or unreadable). From the
    network a private element arrives as UN bytes (US, little endian, conquest-lua-web.md
    §8.11); a converter sets it as US."""
    if 0x99990802 not in ds:
        return 0
    value = ds[0x99990802].value
    if isinstance(value, (bytes, bytearray)):
        text = bytes(value).strip(b" \0")
        if text and text.isdigit():      # an IS string (dgate.dic says IS); a binary US has control bytes
            return int(text) & 0xFFFF
        return int.from_bytes(bytes(value[:2]).ljust(2, b"\0"), "little") if value else 0
    if isinstance(value, (list, tuple)):
        value = value[0] if value else 0
    try:
        return int(value or 0) & 0xFFFF
    except (TypeError, ValueError):
        return 0


def _mask(identifier: Dataset) -> int:
    return mask_value(identifier) or 0xFFFF


def _query_for(server: VirtualServer, identifier: Dataset, level: str) -> Dataset | None:
    query = copy.deepcopy(identifier)
    query.QueryRetrieveLevel = level
    if 0x99990802 in query:
        del query[0x99990802]
    if server.nonvirtual:
        query.add_new(0x99990802, "US", 0x8000)
    if server.fixkodak:
        for tag in (0x00100030, 0x00080020, 0x00080021, 0x00080022, 0x00080023):
            if tag in query and str(query[tag].value or "").startswith("*"):
                return None            # wildcard date queries are blocked for such servers
        pid = str(query.get("PatientID", "") or "")
        if len(pid) == 7 and pid.isdigit():
            query.PatientID = "0" + pid
    return query


def _key(level: str, ds: Dataset) -> tuple:
    keys = LEVEL_KEYS.get(level, ())
    if not keys:
        return tuple(sorted((e.keyword, str(e.value)) for e in ds if e.VR != "SQ"))
    return tuple(str(ds.get(k, "")) for k in keys)


def remove_duplicates(level: str, records: list[Dataset]) -> list[Dataset]:
    """``RemoveQueryDuplicates``: the first record of each level key."""
    seen, out = set(), []
    for ds in records:
        k = _key(level, ds)
        if k not in seen:
            seen.add(k)
            out.append(ds)
    return out


def find(level: str, identifier: Dataset, config, logs, own_ae: str, local: list[Dataset] | None = None,
         converters=None, ctx=None) -> list[Dataset]:
    """Local answers merged with those of the virtual servers selected by the mask."""
    from .context import ConvertContext
    results: list[Dataset] = []
    mask = _mask(identifier)
    sources = 0
    for server in servers(config.settings):
        if not mask & (1 << server.index):
            continue
        address = config.amap.lookup(server.ae)
        if address is None:
            logs.operator.printf(f"*** Virtual query - unknown AE {server.ae}\n")
            continue
        query = _query_for(server, identifier, level)
        if query is None:
            logs.operator.printf(f"Virtual query - blocked wildcard date query to {server.ae}\n")
            continue
        run_ctx = ctx or ConvertContext(config, logs, own_ae=own_ae)
        if converters is not None and converters.run_virtual_query(query, run_ctx).destroyed:
            continue
        model = "patient" if level == "PATIENT" else "worklist" if level == "WORKLIST" else "study"
        try:
            answers = scu.find(own_ae, address, query, model, timeout=float(config.settings.int("TCPIPTimeOut") or 30))
        except (scu.AssociationFailed, OSError) as exc:
            logs.operator.printf(f"*** Virtual query - failed to connect for C-FIND to {server.ae} ({exc})\n")
            continue
        kept = []
        for answer in answers:
            if server.fixkodak:
                pid = str(answer.get("PatientID", "") or "")
                if len(pid) == 8 and pid.startswith("0"):
                    answer.PatientID = pid[1:]
            if converters is not None and converters.run_virtual_result(answer, run_ctx).destroyed:
                continue
            kept.append(answer)
        sources += bool(kept)
        results += kept
    if local:
        sources += 1
        results += local
    return remove_duplicates(level, results) if sources > 1 else results


def fetch_missing(identifier: Dataset, config, logs, own_ae: str, db, timeout: float = 600.0) -> int:
    """C-MOVE to this server the objects of ``identifier`` held by the virtual servers
    but missing here; the number of objects the peers reported moved."""
    from ..store.devices import locate
    moved = 0
    mask = _mask(identifier)
    for server in servers(config.settings):
        if not mask & (1 << server.index):
            continue
        address = config.amap.lookup(server.ae)
        if address is None:
            continue
        query = _query_for(server, identifier, "IMAGE")
        if query is None:
            continue
        for keyword in ("SOPInstanceUID", "SeriesInstanceUID", "StudyInstanceUID", "PatientID"):
            if keyword not in query:
                setattr(query, keyword, "")
        try:
            remote = scu.find(own_ae, address, query, "study", timeout=30)
        except (scu.AssociationFailed, OSError) as exc:
            logs.operator.printf(f"*** Virtual server - failed to connect {server.ae} for C-FIND ({exc})\n")
            continue
        missing: dict[tuple[str, str, str], list[str]] = {}
        for ds in remote:
            sop = str(ds.get("SOPInstanceUID", ""))
            here = db.get_file(sop)
            if here is not None and locate(config.settings, here.device, here.object_file) is not None:
                continue
            key = (str(ds.get("PatientID", "")), str(ds.get("StudyInstanceUID", "")),
                   str(ds.get("SeriesInstanceUID", "")))
            missing.setdefault(key, []).append(sop)
        if not missing:
            continue
        total = sum(len(v) for v in missing.values())
        logs.operator.printf(f"Virtual server - collecting {total} missing objects from {server.ae}\n")
        per_series = atoi(config.settings.str(f"VirtualServerPerSeries{server.index}", "0"))
        for (patid, study, series), sops in missing.items():
            groups = [[]] if per_series and len(sops) > per_series else \
                [sops[i:i + 64] for i in range(0, len(sops), 64)]
            for group in groups:
                ident = Dataset()
                ident.QueryRetrieveLevel = "IMAGE" if group else "SERIES"
                if patid:
                    ident.PatientID = patid
                ident.StudyInstanceUID = study
                ident.SeriesInstanceUID = series
                if group:
                    ident.SOPInstanceUID = group
                try:
                    result = scu.move(own_ae, address, own_ae, ident, "study", 0xFBAD, timeout)
                except (scu.AssociationFailed, OSError) as exc:
                    logs.operator.printf(f"*** Virtual server - failed to connect {server.ae} for C-MOVE ({exc})\n")
                    break
                moved += result.completed
        if moved:
            break
    return moved
