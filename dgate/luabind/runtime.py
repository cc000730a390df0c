"""A Conquest Lua state: Lua 5.1 with dgate's objects and functions
(``do_lua``; conquest-lua-web.md §1.3, §1.4).

:meth:`LuaState.run` is ``do_lua``: it (re)creates the globals ``Data``, ``Command`` and
``DicomObject`` for the call, compiles the chunk (``loadstring``), runs it protected and
returns its string/number result as text (None otherwise). A syntax error logs
``*** lua syntax error <msg> in '<chunk>'``, a run-time error ``*** lua run error <msg> in
'<chunk>'``; neither raises. Calls on one state are serialised by its lock (the global
state's ``dolua_critical``); lupa releases the GIL while Lua runs, so a script that loops
for ever blocks only the state it runs in (its association), never other associations.
"""
from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any

from pydicom.dataset import Dataset

from ..config.dictionary import Dictionary
from .context import LuaContext, LuaServices
from .elements import standard
from .glue import GLUE
from .handles import Handle
from .lupa51 import LUA_CPATHS, LUA_PATHS, new_runtime
from .methods import CHECKED, ERR, checked, nothing_for_none

# ``require('json')``, ``require('lua/JSON')`` (Conquest's rquery.lua, in a ``lua:`` command)
# when no such file is on package.path: a JSON module of our own, callable as JSON.encode(v)
# and JSON:encode(v); searched last, so a site's own json.lua wins.
JSON_FALLBACK = """
local encode, decode = ...
local M = {}
function M.encode(a, b) if a == M then a = b end return encode(a) end
function M.decode(a, b) if a == M then a = b end return decode(a) end
local names = {json = true, JSON = true, ['lua/json'] = true, ['lua/JSON'] = true}
table.insert(package.loaders, function(name)
  if names[name] then return function() return M end end
  return nil
end)
"""


COLLECT_AFTER = 16
"""Objects and arrays a script makes (``DicomObject:new()``, ``Read``, ``Copy``, query
results…) are Python objects that Lua's collector does not see the size of: it frees them
only when its own small heap has grown enough, which for big images meant gigabytes held.
After this many were made, the run that ends does a full collection (two cycles, ~0.05 ms
on a state's usual heap), so at most about this many unreferenced objects are held."""


class LuaState:
    """One Lua state (``PDU.L``) with the Conquest API installed."""

    def __init__(self, services: LuaServices | None = None, name: str = "association"):
        from . import functions, methods  # the API tables
        self.services = services or LuaServices()
        self.name = name
        self.lock = threading.RLock()
        self.lua = new_runtime()
        self.ctx = LuaContext()
        self.data: Handle = Handle(Dataset())
        self.command: Handle = Handle()
        self.variables = {"x": "", "y": "", "z": ""}      # converter %x %y %z of this state
        self.made = 0             # objects wrapped since the last full collection (COLLECT_AFTER)
        self._depth = 0           # runs in progress (a script's converter may run Lua again)
        config = self.services.config
        self.dictionary: Dictionary = standard()
        if config is not None:
            try:
                self.dictionary = config.dictionary
            except Exception:
                self.dictionary = standard()
        self.methods = methods.ObjectMethods(self)
        self.functions = functions.GlobalFunctions(self)
        api = self.lua.table_from({
            "method": self.methods.call, "index": self.methods.index, "newindex": self.methods.newindex,
            "len": self.methods.length, "address": _address,
            "print": self.functions.print_line, "debuglog": self.functions.debug_line,
            "global_get": self.functions.global_get, "global_set": self.functions.global_set,
            "association": self.functions.association, "ERR": ERR,
        })
        (self._wrap, expose, self._run, self._unwrap, self._is_object,
         self._kind_of) = self.lua.execute(GLUE, api)
        # twice: a cycle finalizes the userdata it finds unreachable (dropping the Python
        # object) and frees them only in the next one
        self._collect = self.lua.eval("function() collectgarbage() collectgarbage() end")
        for fname, fn in self.functions.table().items():
            fn = nothing_for_none(fname, fn)
            expose(fname, checked(fn), True) if fname in CHECKED else expose(fname, fn)
        factory = Handle()
        self._factory = (factory, self._wrap(factory, factory.kind))   # DicomObject; Command without one
        lua_g = self.lua.globals()
        lua_g.Data, lua_g.Command = self.wrap(self.data), self.wrap(self.command)   # outside any run
        self._setup_packages()

    # -- set-up --------------------------------------------------------------------------
    def _setup_packages(self) -> None:
        from .lua_files import shipped_lua_dir
        base = self.base_dir()
        paths = [f"{base}lua/?.lua", f"{base}?.lua"] if base else []
        shipped = shipped_lua_dir()
        paths += [f"{shipped}/?.lua"] if shipped is not None else []
        paths += list(LUA_PATHS)
        lua_g = self.lua.globals()
        package = lua_g.package
        package.path = ";".join(paths) + ";" + package.path
        package.cpath = ";".join(LUA_CPATHS) + ";" + package.cpath
        from .lpack import install
        install(self)
        self.lua.execute(JSON_FALLBACK, self._json_encode, self._json_decode)

    def _json_encode(self, value: Any) -> str:
        import json
        return json.dumps(self._from_lua(value), ensure_ascii=False, separators=(",", ":"))

    def _json_decode(self, text: Any) -> Any:
        import json
        return self._to_lua(json.loads(str(text)))

    def _from_lua(self, value: Any) -> Any:
        lua_type = self.lua.globals().type
        if value is not None and lua_type(value) == "table":
            keys = list(value.keys())
            if all(isinstance(k, (int, float)) for k in keys) and sorted(keys) == list(range(1, len(keys) + 1)):
                return [self._from_lua(value[k]) for k in range(1, len(keys) + 1)]      # {} is []
            return {str(k): self._from_lua(value[k]) for k in keys}
        if isinstance(value, float) and value.is_integer():
            return int(value)
        return value

    def _to_lua(self, value: Any) -> Any:
        if isinstance(value, dict):
            return self.lua.table_from({k: self._to_lua(v) for k, v in value.items()})
        if isinstance(value, list):
            return self.lua.table_from([self._to_lua(v) for v in value])
        return value

    def base_dir(self) -> str:
        config = self.services.config
        if config is None:
            return ""
        text = str(config.base_dir)
        return text if text.endswith(os.sep) else text + os.sep

    # -- objects -------------------------------------------------------------------------
    def wrap(self, handle: Handle | None):
        """The Lua userdata for a handle of a new object or array (None → nil); counted for
        :data:`COLLECT_AFTER`."""
        if handle is None:
            return None
        self.made += 1
        return self._wrap(handle, handle.kind)

    def wrap_view(self, handle: Handle):
        """The Lua userdata for a view into an object that already has one (a sequence, an
        item of an array): not counted, it holds nothing of its own."""
        return self._wrap(handle, handle.kind)

    def wrap_dataset(self, ds: Dataset | None, with_meta: bool = False):
        return None if ds is None else self.wrap(Handle(ds, with_meta=with_meta))

    def wrap_list(self, items: list[Dataset]):
        return self.wrap(Handle(items=list(items)))

    def table(self, values) -> Any:
        """A Lua table from a Python list (1-based) or dict."""
        return self.lua.table_from(values)

    def zero_table(self, values: list) -> Any:
        """A Lua table indexed from 0 (``GetRow``/``GetColumn``)."""
        return self.lua.table_from(dict(enumerate(values)))

    # -- running -------------------------------------------------------------------------
    def run(self, chunk: str, ctx: LuaContext | None = None, data: Dataset | Handle | None = None,
            command: Dataset | None = None, name: str | None = None) -> str | None:
        """``do_lua``: run a chunk; its string/number result, or None (errors are logged).

        ``Data`` and ``Command`` stand for ``data`` and ``command`` during this run only: the
        handles made here for them are released afterwards, so the objects are freed at once
        instead of when Lua's collector gets to the userdata (a script that kept ``Data`` in a
        global finds an empty object, where the original's points at whatever came next)."""
        with self.lock:
            saved = (self.ctx, self.data, self.command)
            self.ctx = ctx if ctx is not None else LuaContext()
            bound = data if isinstance(data, Handle) else Handle(data if data is not None else Dataset())
            bound_command = Handle(command) if command is not None else None
            self.data = bound
            self.command = bound_command if bound_command is not None else self._factory[0]
            if self.ctx.extra_globals:
                lua_g = self.lua.globals()
                for key, value in self.ctx.extra_globals.items():
                    lua_g[key] = value
            self._depth += 1
            try:
                status, result = self._run(chunk, name if name is not None else chunk, bound, bound.kind,
                                           bound_command, self._factory[1])
            except Exception as exc:    # lupa's own failures (memory) must not escape
                status, result = 2, str(exc)
            finally:
                self._depth -= 1
                self.ctx, self.data, self.command = saved
                if bound is not data:
                    bound.free()
                if bound_command is not None:
                    bound_command.free()
                if self.made >= COLLECT_AFTER and not self._depth:
                    self.made = 0
                    self._collect()
            if status == 1:
                self.log_error(f"*** lua syntax error {result} in '{chunk}'")
                return None
            if status == 2:
                self.log_error(f"*** lua run error {result} in '{chunk}'")
                return None
            return result.split("\0", 1)[0] if result is not None else None   # a C string, as do_lua returns

    def run_with_verdict(self, chunk: str, ctx: LuaContext, data: Dataset | Handle | None = None,
                         command: Dataset | None = None) -> tuple[str | None, int]:
        """Run and return (result, rc) — rc is the verdict the chunk set (1 when none)."""
        result = self.run(chunk, ctx, data, command)
        return result, ctx.rc

    def run_file(self, path: str | Path, ctx: LuaContext | None = None, data: Dataset | None = None,
                 command: Dataset | None = None) -> str | None:
        return self.run(f"dofile([[{path}]])", ctx, data, command)

    def log_error(self, text: str) -> None:
        console = self.services.console
        if console is not None:
            console(text + "\n")
        else:
            self.services.logs.operator.printf(text + "\n")

    def set_global(self, name: str, value: Any) -> None:
        """``lua_setvar``: a global string (None → ``"NULL"``)."""
        with self.lock:
            self.lua.globals()[name] = "NULL" if value is None else value

    def get_global(self, name: str) -> Any:
        with self.lock:
            return self.lua.globals()[name]

    def eval_string(self, expression: str, data: Dataset | Handle | None = None, command: Dataset | None = None,
                    ctx: LuaContext | None = None) -> str | None:
        """``lua_getstring``: the value of ``return <expression>``."""
        return self.run("return " + expression, ctx, data, command)


def _address(value: Any) -> str:
    return "0x%x" % id(value)
