"""Converters and routing (conquest-lua-web.md §8; conquest-storage.md §6.1).

* the converter language: :func:`run_script` (Lua's ``script()``), :class:`Run`;
* the converter keys of dicom.ini: :class:`Converters` (``run_import`` … per server path);
* forwarding: :class:`~.forward.Forwarder`; export queues: :class:`~.queues.ExportQueues`;
  delayed operations: :class:`~.delayed.DelayedQueue`; virtual servers: :mod:`.virtual`.

Layering: this package sits between ``commands`` and ``net``; it uses ``net`` (SCU),
``store``, ``db`` and ``config`` and is called by the server through the functions named
in the README section "Converters and routing".
"""
from __future__ import annotations

from .context import ConvertContext, Services
from .keys import Converters, Verdict
from .rc import RC
from .script import Run, run_script

__all__ = ["ConvertContext", "Converters", "RC", "Run", "Services", "Verdict", "run_script"]
