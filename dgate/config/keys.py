"""Typed view of the root-section keys of dicom.ini with Conquest's defaults.

The table is conquest-storage.md §1.4. Types:

* ``int``  – parsed like C ``atoi`` (leading blanks, sign, digits; garbage gives 0)
* ``str``  – the value as read
* ``path`` – a file name; one without a path separator is relative to BaseDir

Keys with alternative spellings (``MAGDeviceThreshHold`` / ``MAGDeviceThreshold``) list
them as aliases; the first spelling present in the file wins.
"""
from __future__ import annotations

import builtins
import os
import re
from pathlib import Path
from typing import NamedTuple

from .ini import IniFile


class KeySpec(NamedTuple):
    name: str
    default: str
    type: str = "str"
    aliases: tuple[str, ...] = ()
    doc: str = ""


def _k(name, default, type_="str", *aliases, doc=""):
    return KeySpec(name, default, type_, tuple(aliases), doc)


ROOT_KEYS: tuple[KeySpec, ...] = (
    # identity, network, logging
    _k("MicroPACS", "sscscp", doc="name of the root section"),
    _k("MyACRNema", "none", doc="own AE title"),
    _k("TCPPort", "104", doc="listen port"),
    _k("PACSName", "MicroPACS", doc="server name, log prefix"),
    _k("Edition", "Workgroup"),
    _k("OperatorConsole", "\\\\.\\pipe\\MicroPACSStatus", doc="UDP host or pipe for -!"),
    _k("AccessUpdates", "\\\\.\\pipe\\MicroPACSAccess"),
    _k("DebugLevel", "0", "int"),
    _k("UserLog", "PacsUser.log", "path"),
    _k("TroubleLog", "PacsTrouble.log", "path"),
    _k("ZipTime", "", "str", "ziptime"),
    _k("NightlyCleanThreshhold", "0", "int", "NightlyCleanThreshold"),
    _k("PDUSize", "", "str"),
    _k("TCPIPTimeOut", "300", "int"),
    _k("SendUpperCaseAE", "0", "int"),
    _k("PadAEWithZeros", "0", "int"),
    _k("IgnoreOutOfMemoryErrors", "0", "int"),
    _k("NoDicomCheck", "0", "int"),
    _k("Dictionary", "dgate.dic", "path"),
    _k("kFactorFile", "dicom.sql", "path"),
    _k("ACRNemaMap", "acrnema.map", "path"),
    _k("SOPClassList", "dgatesop.lst", "path"),
    _k("UIDPrefix", "1.2.826.0.1.3680043.2.135.1066"),
    _k("TempDir", "", "path"),
    # control channel safety (ours; the original accepts commands from anyone)
    _k("ServerCommandAddresses", "127.0.0.1,::1",
       doc="comma list of peer addresses allowed to send --commands (ours)"),
    _k("ServerCommandAEs", "*", doc="comma list of calling AEs allowed to send --commands (ours)"),
    # database
    _k("SQLServer", ""),
    _k("SQLHost", "localhost"),
    _k("Username", "Administrator"),
    _k("Password", "password"),
    _k("Postgres", "0", "int", "PostGres"),
    _k("MySQL", "0", "int", "Mysql"),
    _k("SQLite", "0", "int", "SqLite"),
    _k("SQLiteStartup", "PRAGMA synchronous = OFF"),
    _k("PostGreSQLStartup", ""),
    _k("MySQLStartup", ""),
    _k("DoubleBackSlashToDB", "0", "int"),
    _k("UseEscapeStringConstants", "0", "int"),
    _k("TruncateFieldNames", "10", "int", doc="effective default 10 (ini cache quirk)"),
    _k("MaxFieldLength", "0", "int"),
    _k("AllowTruncate", ""),
    _k("UTF8ToDB", "0", "int"),
    _k("UTF8FromDB", "0", "int"),
    _k("FixPhilips", "0", "int"),
    _k("FixKodak", "0", "int"),
    _k("AllowEmptyPatientID", "0", "int"),
    _k("EnableComputedFields", "0", "int"),
    _k("QueriesReturnISO_IR", "0", "int"),
    _k("WorkListReturnsISO_IR_100", "-1", "int"),
    _k("WorkListReturnsISO_IR", "100", "int"),
    _k("PatientQuerySortOrder", ""),
    _k("StudyQuerySortOrder", ""),
    _k("SeriesQuerySortOrder", ""),
    _k("ImageQuerySortOrder", ""),
    _k("PatientTableName", "DICOMPatients"),
    _k("StudyTableName", "DICOMStudies"),
    _k("SeriesTableName", "DICOMSeries"),
    _k("ImageTableName", "DICOMImages"),
    _k("WorkListTableName", "DICOMWorkList"),
    _k("DMarkTableName", "DICOMAccessUpdates"),
    _k("IndexDBF", "10", "int"),
    _k("PackDBF", "0", "int"),
    _k("LongQueryDBF", "1000", "int"),
    _k("WorkListMode", "0", "int"),
    # storage, compression, devices
    _k("MAGDevices", "1", "int"),
    _k("MIRRORDevices", "0", "int"),
    _k("CACHEDevices", "0", "int"),
    _k("JUKEBOXDevices", "0", "int"),
    _k("MAGDeviceThreshHold", "0", "int", "MAGDeviceThreshold"),
    _k("MAGDeviceFullThreshHold", "30", "int", "MAGDeviceFullThreshold"),
    _k("IgnoreMAGDeviceThreshHold", "0", "int", "IgnoreMAGDeviceThreshold"),
    _k("LRUSort", ""),
    _k("FileNameSyntax", "4"),
    _k("MaxFileNameLength", "255", "int"),
    _k("RenameOnRewrite", "0", "int"),
    _k("IgnoreRewrite", "0", "int"),
    _k("AllowNKIAsDICOM", "0", "int"),
    _k("IncomingCompression", ""),
    _k("DroppedFileCompression", ""),
    _k("ArchiveCompression", ""),
    _k("FileCompressMode", "0", "int"),
    _k("LossyQuality", "95", "int"),
    _k("UseOpenJPG", "0", "int"),
    _k("UseBuiltInDecompressor", "1", "int"),
    _k("UseBuiltInJPEG", "1", "int"),
    _k("DecompressNon16BitsJpeg", "1", "int"),
    _k("StopOnJPEGWarnings", "0", "int"),
    _k("ImportExportDragAndDrop", "1", "int"),
    _k("DelayIncomingFileOpen", "0", "int"),
    _k("WatchFolder", ""),
    _k("ArchiveConverter0", ""),
    _k("MoveDeviceConverter0", ""),
    # forwarding and queues
    _k("ExportConverters", "0", "int"),
    _k("ImportConverters", "99", "int"),
    _k("ForwardAssociationLevel", "STUDY"),
    _k("ForwardAssociationRelease", "1", "int"),
    _k("ForwardAssociationCloseDelay", "5", "int"),
    _k("ForwardAssociationRefreshDelay", "3600", "int"),
    _k("ForwardCollectDelay", "600", "int"),
    _k("MaximumExportRetries", "0", "int"),
    _k("MaximumDelayedFetchForwardRetries", "0", "int"),
    _k("RetryForwardFailed", "0", "int"),
    _k("RetryForwardRemoteDICOMError", "0", "int"),
    _k("DelayedForwarderThreads", "1", "int"),
    _k("FailHoldOff", "60", "int"),
    _k("RetryDelay", "100", "int"),
    _k("QueueSize", "128", "int"),
    _k("StorageFailedErrorCode", "272", "int"),
    _k("EnableReadAheadThread", "1", "int"),
    _k("OverlapVirtualGet", "0", "int"),
    _k("Prefetcher", "0", "int"),
    _k("CacheVirtualData", "1", "int"),
    # web
    _k("WebServerFor", ""),
    _k("WEBScriptAddress", ""),
    _k("WEBMAG0Address", ""),
    _k("WebCodeBase", ""),
    _k("WEBReadOnly", "1", "int"),
    _k("WEBPush", "1", "int"),
    # HL7, print, storage commitment, MPPS (hl7; ours: the original has no HL7 listener)
    _k("HL7Port", "0", "int", doc="MLLP listener port for HL7 orders into the worklist; 0 = off"),
    _k("PrintMaxFilmBoxes", "16", "int", doc="most film boxes one print film session may hold"),
    _k("PrintMaxImageBoxes", "64", "int", doc="most image boxes one film box may hold"),
    # built-in web server (capability web; ours, not in 1.5.0e)
    _k("WebPort", "8086", "int", doc="HTTP port of the built-in web server; 0 = no web server"),
    _k("WebAddress", "127.0.0.1", doc="bind address of the web server (0.0.0.0 = all interfaces)"),
    _k("WebRemoteAccess", "0", "int", doc="1 = answer HTTP clients that are not on this machine"),
    _k("WebUsers", "", "path", doc="users file: lines 'name role secret' (role read or full)"),
    _k("WebAnonymousRole", "full", doc="role without credentials when no users file: full, read or none"),
    _k("WebMaxUpload", "1024", "int", doc="largest accepted upload (STOW, attach), in MB"),
    _k("WebServerCommands", "0", "int", doc="1 = allow the newweb 'servercommand' pass-through"),
    _k("WebMetadataCache", "20000", "int", doc="instances kept in the DICOMweb metadata cache"),
    _k("WebLadleRoutes", "0", "int", doc="1 = webserver/htdocs/ladle_routes.lua routes answer before ours"),
    # server-command policy (capability "formats"; ours, the original runs every command)
    _k("RefusedServerCommands", "",
       doc="comma list of server commands the server refuses; 'destructive' stands for every "
           "command that deletes or changes stored data, the database or the configuration, or stops it"),
    # server core: process model, limits, timeouts, C-MOVE destinations (ours, README "Server architecture")
    _k("ServerWorkers", "", doc="worker processes (default: the CPU count, at most 4); 0: one process"),
    _k("MaxAssociations", "200", "int", doc="open associations at most; more get A-ASSOCIATE-RJ"),
    _k("AssociationRequestTimeOut", "5", "int", doc="seconds a new connection has to send its A-ASSOCIATE-RQ"),
    _k("AllowWildcardMoveDestinations", "0", "int", doc="1: C-MOVE may send to AEs found only via 'AE*' rows"),
)

KEYS_BY_NAME: dict[str, KeySpec] = {}
for _spec in ROOT_KEYS:
    for _n in (_spec.name,) + _spec.aliases:
        KEYS_BY_NAME[_n.lower()] = _spec

_ATOI = re.compile(r"[ \t\n\r\f\v]*([+-]?\d+)")


def atoi(text: str | None) -> int:
    """C ``atoi``: leading whitespace, optional sign, digits; anything else gives 0."""
    if not text:
        return 0
    match = _ATOI.match(text)
    return int(match.group(1)) if match else 0


class Settings:
    """Typed access to the root section of a dicom.ini.

    ``settings.int("TCPPort")`` / ``settings.str(...)`` / ``settings.path(...)`` use the
    defaults of :data:`ROOT_KEYS` unless a default is passed; unknown keys default to
    ``""``. Values are re-read from the file when it changes.
    """

    def __init__(self, ini: IniFile, base_dir: str | os.PathLike):
        self.ini = ini
        self.base_dir = Path(base_dir)

    def raw(self, name: str) -> str | None:
        """The value as found (aliases tried in order), or None when absent."""
        spec = KEYS_BY_NAME.get(name.lower())
        names = (name,) if spec is None else (spec.name,) + spec.aliases
        if spec is not None and name.lower() != spec.name.lower():
            names = (name,) + tuple(n for n in names if n.lower() != name.lower())
        for candidate in names:
            value = self.ini.param(candidate)
            if value is not None:
                return value
        return None

    def str(self, name: str, default: str | None = None) -> str:
        value = self.raw(name)
        if value is not None:
            return value
        if default is not None:
            return default
        spec = KEYS_BY_NAME.get(name.lower())
        return spec.default if spec else ""

    def int(self, name: builtins.str, default: builtins.int | None = None) -> builtins.int:
        value = self.raw(name)
        if value is None:
            if default is not None:
                return default
            spec = KEYS_BY_NAME.get(name.lower())
            return atoi(spec.default) if spec else 0
        return atoi(value)

    def path(self, name: builtins.str, default: builtins.str | None = None) -> Path:
        """A file key: relative to BaseDir when it holds no path separator."""
        value = self.str(name, default)
        if value and "/" not in value and os.sep not in value:
            return self.base_dir / value
        return Path(value)

    def non_numeric_ints(self) -> list[tuple[builtins.str, builtins.str, builtins.int]]:
        """(key, value, line) of int keys whose value ``atoi`` would turn into 0."""
        bad = []
        for spec in ROOT_KEYS:
            if spec.type != "int":
                continue
            value = self.raw(spec.name)
            if value and not _ATOI.match(value):
                bad.append((spec.name, value, self.ini.line_of(self.ini.root_section, spec.name)))
        return bad
