"""The ``[lua]`` hooks of dicom.ini as callables for the server (conquest-lua-web.md §1.5, §1.6).

The running server wires these in through :mod:`.serverhooks` (its :class:`~.serverhooks.ServerLua`
is an :class:`AssociationLua` kept as ``info.extra["lua"]``; see README "Lua scripting"):

* :class:`AssociationLua` — one per incoming association, owning its Lua state
  (made on first use): :meth:`~AssociationLua.start` (``[lua] association``; False: drop
  the link), :meth:`~AssociationLua.command` (``[lua] command`` before each DIMSE
  command; False: drop without a response), :meth:`~AssociationLua.end`
  (``endassociation``), :meth:`~AssociationLua.client_error` (``clienterror``),
  :meth:`~AssociationLua.print_event` (``printserver``). The association's converters
  (ImportConverterN, QueryConverter0, … and the ``[lua]`` keys that replace them) are run
  by the converter engine (:class:`dgate.convert.Converters`) with
  ``ConvertContext(lua_state=AssociationLua.state, …)``, so Lua code in them runs in
  this state;
* :func:`lua_converter` — the ``[lua]`` chunk of a key, or None;
* :class:`LuaBackground` — ``[lua] background`` every second and ``nightly`` at 03:00,
  both in the global state, run unconditionally (the original runs them only when its
  zip thread was started by a log-file option).

Verdicts are the converter return codes (§8.7): 2 destroy, 6 reject, 7 retry, 8 defer;
a hook that fails with a Lua error logs it and keeps the default (1).
"""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any

from pydicom.dataset import Dataset

from .context import RC_DESTROY, RC_REJECT, LuaContext
from .runtime import LuaState

VERDICTS = {2: "destroy", 3: "stop", 5: "return", 6: "reject", 7: "retry", 8: "defer"}


def verdict_name(rc: int) -> str:
    """``keep`` for the default codes, else destroy/reject/retry/defer/stop/return."""
    return VERDICTS.get(rc, "keep")


def lua_converter(config, name: str) -> str | None:
    """The ``[lua]`` chunk that replaces converter ``name`` (e.g. ``ImportConverter0``)."""
    if config is None:
        return None
    value = config.ini.get("lua", name)
    return value or None


@dataclass
class AssociationInfo:
    """What the hooks know of an association."""

    calling: str = ""
    called: str = ""
    thread: int = 0
    connected_ip: str = "0.0.0.0"


class AssociationLua:
    """The Lua side of one association; every method is safe to call on any state."""

    def __init__(self, info: AssociationInfo, config=None):
        from . import states
        self.info = info
        self.config = config if config is not None else states.services().config
        self._state: LuaState | None = None
        self._hooks: dict[str, str] | None = None

    @property
    def state(self) -> LuaState:
        if self._state is None:
            from .states import association_state
            self._state = association_state()
        return self._state

    def _hook(self, name: str) -> str:
        """The five association hook chunks are read once per association, as dgate does."""
        if self._hooks is None:
            ini = self.config.ini if self.config is not None else None
            self._hooks = {key: (ini.get("lua", key) or "") if ini is not None else ""
                           for key in ("association", "command", "endassociation", "clienterror", "printserver")}
        return self._hooks.get(name, "")

    def context(self, **extra: Any) -> LuaContext:
        info = self.info
        return LuaContext(info.calling, info.called, info.thread, info.connected_ip, extra_globals=extra)

    def _run(self, chunk: str, data: Dataset | None = None, command: Dataset | None = None, **extra: Any) -> int:
        ctx = self.context(**extra)
        self.state.run(chunk, ctx, data, command)
        return ctx.rc

    # -- association hooks ----------------------------------------------------------
    def start(self) -> bool:
        """``[lua] association``; False when the script refused (destroy/reject)."""
        chunk = self._hook("association")
        return not chunk or self._run(chunk) not in (RC_DESTROY, RC_REJECT)

    def command(self, command: Dataset | None) -> bool:
        """``[lua] command`` before a DIMSE command; False: drop without a response."""
        chunk = self._hook("command")
        return not chunk or self._run(chunk, None, command) not in (RC_DESTROY, RC_REJECT)

    def end(self) -> None:
        chunk = self._hook("endassociation")
        if chunk:
            self._run(chunk)

    def client_error(self, command: Dataset | None) -> None:
        chunk = self._hook("clienterror")
        if chunk:
            self._run(chunk, None, command)

    def print_event(self, event: str, data: Dataset | None, command: Dataset | None) -> bool:
        """``[lua] printserver`` for a print SCP event (``command_line`` = event name or the
        image box file name); True when a script handled it."""
        from ..version import DGATE_VERSION
        chunk = self._hook("printserver")
        if not chunk:
            return False
        self._run(chunk, data, command, command_line=event, version=DGATE_VERSION)
        return True

    def close(self) -> None:
        self._state = None


def global_hook(name: str, called: str | None = None, config=None) -> int | None:
    """``startup``/``nightly``/``background`` in the global state (Calling ``global``)."""
    from . import states
    config = config if config is not None else states.services().config
    chunk = lua_converter(config, name)
    if chunk is None:
        return None
    ctx = LuaContext("global", called or name)
    states.global_state().run(chunk, ctx)
    return ctx.rc


class LuaBackground:
    """A hub background task: ``[lua] background`` about every second and ``[lua]
    nightly`` once a day at 03:00 local time."""

    def __init__(self, config=None, interval: float = 1.0, nightly_hour: int = 3):
        self.config = config
        self.interval = interval
        self.nightly_hour = nightly_hour
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._last_night = time.strftime("%Y%m%d") if time.localtime().tm_hour >= nightly_hour else ""

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self.run, name="lua-background", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)
            self._thread = None

    def tick(self, now: float | None = None) -> None:
        """One round: ``background``, and ``nightly`` when 03:00 was passed today."""
        stamp = time.localtime(now if now is not None else time.time())
        day = time.strftime("%Y%m%d", stamp)
        if stamp.tm_hour >= self.nightly_hour and day != self._last_night:
            self._last_night = day
            global_hook("nightly", "nightly", self.config)
        global_hook("background", "background", self.config)

    def run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.tick()
            except Exception as exc:      # a broken hook must not end the task
                from . import states
                states.services().logs.operator.printf(f"***[lua] background: {exc}\n")
