"""The ``[lua] printserver`` seam under its old name (the DIMSE-N handlers are the plug-in
:mod:`dgate.services.plugin`; the hook itself is :data:`dgate.net.hooks.PRINTSERVER`)."""
from __future__ import annotations

from .hooks import PRINTSERVER

__all__ = ["PRINTSERVER"]
