"""``FileNameSyntax = lua:<expression>`` (``lua_getstring``; conquest-lua-web.md §1.4):
the file name is the value of ``return <expression>`` with ``Data`` the object being
stored, evaluated in the association's state when the store runs inside an
association (:func:`current_association`), else in the global state."""
from __future__ import annotations

import threading

from pydicom.dataset import Dataset

from .context import LuaContext

_local = threading.local()


def current_association(session) -> None:
    """Mark the :class:`~dgate.luabind.hooks.AssociationLua` of this thread (None: none)."""
    _local.session = session


def lua_file_name(ds: Dataset, expression: str, calling: str = "", called: str = "") -> str | None:
    from . import states
    session = getattr(_local, "session", None)
    state = session.state if session is not None else states.global_state()
    ctx = session.context() if session is not None else LuaContext(calling, called)
    return state.eval_string(expression, ds, None, ctx)


def install() -> None:
    """Register :func:`lua_file_name` with the file-name generator."""
    from ..store.filenames import set_lua_namer
    set_lua_namer(lua_file_name)
