"""Hook points of the DICOM server, for converters, Lua and the codec package.

Every hook list runs in the association's thread, in ``order`` then registration order.
A hook that raises is logged and skipped (it never takes an association down).

========================  ==============================================  ==============================
registry                  signature                                       effect of the result
========================  ==============================================  ==============================
``ASSOCIATION_START``     ``fn(info: AssociationInfo) -> bool | None``    False: drop the connection
                                                                          (``[lua] association`` rc 2/6)
``COMMAND``               ``fn(info, command: Command) -> bool | None``   False: drop without a reply
                                                                          (``[lua] command``)
``ASSOCIATION_END``       ``fn(info) -> None``                            after release or abort
``CLIENT_ERROR``          ``fn(info, command) -> None``                   after an unsupported command
``FIND_QUERY``            ``fn(identifier: Dataset, ctx) -> bool|None``   False: refuse, status 0xC011
``FIND_RESULT``           ``fn(result: Dataset, ctx) -> bool | None``     False: record not returned
``RETRIEVE_QUERY``        ``fn(identifier: Dataset, ctx) -> bool|None``   False: refuse, status 0xC013
``RETRIEVE_OBJECT``       ``fn(ds: Dataset, ctx) -> bool | None``         False: object not sent; the
                                                                          object is decoded for it
========================  ==============================================  ==============================

Settable functions (one each, ``.set(fn)``; None restores the default):

* ``RETRIEVE_SYNTAX``: ``fn(obj: ObjectFile, offered: dict[str, int], code: str, ctx) -> str | None``,
  the transfer syntax to send ``obj`` in, from ``offered`` (accepted transfer syntax →
  presentation context for its SOP class); None: the default policy of
  :func:`dgate.net.storescu.choose_syntax`.
* ``RETRIEVE_PROPOSAL``: ``fn(sop_class, stored: set[str], code: str, as_stored: bool)
  -> list[list[str] | str] | None``, the presentation contexts to propose to a retrieve/forward
  destination for one SOP class, in order of preference: each item the transfer syntaxes of
  one context (a bare string: a context with that one syntax); None: :func:`dgate.net.storescu.proposal`. A C-MOVE that
  needs more than 128 contexts is split over associations (:func:`dgate.net.storescu.batches`).
* ``RETRIEVE_PAYLOAD``: ``fn(obj, target_ts, ctx) -> Iterable[bytes] | None``, the data set
  bytes to send (NKI expansion, recompression); None: :func:`dgate.net.storescu.payload`.
* ``FIND_MERGE``: ``fn(level, identifier, local: list[Dataset], ctx) -> list[Dataset] | None``, the
  answers of a (non-worklist) C-FIND with those of other sources merged in (virtual servers);
  None: the local answers.
* ``WORKLIST_CONVERTERS``: ``fn(ctx) -> (query_hook, result_hook)`` for a modality worklist
  C-FIND (WorkListQueryConverter0, ModalityWorkListQueryResultConverter0), each ``hook(ds)
  -> int`` or None; rc 2 refuses the query (0xC011) / drops that response
  (:meth:`dgate.db.Database.find_worklist`). None: no worklist converters.

* ``LOCAL_COMMAND``: ``fn(info, text, upload, command: Command) -> tuple[bytes | None] | None``
  for a server command on C-ECHO (conquest-lua-web.md §6.3): a 1-tuple holding the reply
  when this process ran it (``lua:``/``luastart:`` in the association's Lua state), None:
  the hub runs it (``server_command``).
* ``PRINTSERVER``: ``fn(session) -> hook | None`` for ``[lua] printserver``, ``hook(event_or_file_name,
  dataset, request) -> bool | None`` (False: not handled, the built-in logging/saving of the print
  SCP runs; :mod:`dgate.services.plugin`).

``ctx`` is a :class:`dgate.net.services.QueryContext` or ``RetrieveContext``.
"""
from __future__ import annotations

from typing import Any

from ..runtime.registry import Registry, Settable


class HookList(Registry):
    def __init__(self, name: str):
        super().__init__()
        self.name = name

    def run(self, logs, *args: Any) -> bool:
        """Call every hook; False as soon as one returns False."""
        for name, fn in self.items():
            try:
                if fn(*args) is False:
                    return False
            except Exception as exc:  # a broken hook is logged, not fatal
                logs.operator.printf(f"***{self.name} hook {name} failed: {exc}\n")
        return True


ASSOCIATION_START = HookList("association start")
COMMAND = HookList("command")
ASSOCIATION_END = HookList("association end")
CLIENT_ERROR = HookList("client error")
FIND_QUERY = HookList("C-FIND query")
FIND_RESULT = HookList("C-FIND result")
RETRIEVE_QUERY = HookList("retrieve query")
RETRIEVE_OBJECT = HookList("retrieve object")
RETRIEVE_SYNTAX = Settable("retrieve syntax")
RETRIEVE_PAYLOAD = Settable("retrieve payload")
RETRIEVE_PROPOSAL = Settable("retrieve proposal")
PRINTSERVER = Settable("printserver")
WORKLIST_CONVERTERS = Settable("worklist converters")
LOCAL_COMMAND = Settable("local server command")
FIND_MERGE = Settable("C-FIND merge")
