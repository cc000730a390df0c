"""Modules whose import registers hub services, hub tasks, ingest steps or server hooks.

The hub and every worker import all of them at start, so a registration made at import
time is seen in every process. Add a capability's module here to wire it in.
"""
from __future__ import annotations

import importlib

MODULES: list[str] = [
    "dgate.store.mirror",          # mirror.copy service, mirror queue task, after-store hook
    "dgate.store.dropped",         # incoming-folder task
    "dgate.luabind.plugin",        # Lua services and lua: file names in every process
    "dgate.services.plugin",       # print, storage commitment, MPPS handlers; commitment.report/wait services
    "dgate.hl7.mllp",              # HL7 listener task (HL7Port)
    "dgate.hl7.plugin",            # *.hl7 files given to AddImageFile / dropped in an incoming folder
    "dgate.web.task",              # HTTP server task (WebPort): DICOMweb, WADO, our UI, Conquest web pages
    "dgate.codec.plugin",          # compression codes on ingest, acrnema.map column on retrieve, NKI transparency
    "dgate.convert.plugin",        # converters: import step, export queues, query/retrieve hooks, routing task
    "dgate.store.space",           # automatic space making (MAGDeviceThreshHold): store.make_space service
    "dgate.convert.lifecycle",     # RejectedImage/Regen/RegenFail converters (ingest/regen hooks)
]


def load(logs=None) -> None:
    for name in MODULES:
        try:
            importlib.import_module(name)
        except Exception as exc:  # a broken plug-in is reported, the server still runs
            if logs is not None:
                logs.operator.printf(f"***Cannot load {name}: {exc}\n")
