"""dgate: a configuration-compatible Python reimplementation of the Conquest DICOM server.

Sub-packages, one job each:

* ``config``   – dicom.ini, dicom.sql, acrnema.map, dgatesop.lst, dgate.dic readers/writers
* ``cli``      – the single-dash command line of ``dgate`` (Conquest ParseArgs)
* ``db``       – the Conquest database schema and drivers behind one interface
* ``store``    – MAG devices, file names and on-disk formats (.dcm, .v2, NKI)
* ``net``      – DICOM network services (pynetdicom) and the C-ECHO control channel
* ``commands`` – the ``--command:`` server-command table
* ``convert``  – import/export converters
* ``luabind``  – the Lua 5.1 API (lupa)
* ``web``      – web and DICOMweb front-ends
"""
from .version import DGATE_VERSION, __version__

__all__ = ["__version__", "DGATE_VERSION"]
