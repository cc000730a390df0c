"""dgate's web server: DICOMweb (PS3.18), WADO-URI, Conquest's /api/dicom extensions,
our web UI and OHIF, on Starlette + uvicorn.

Entry points: :func:`dgate.web.server.start_web` (in the server process, returns a handle
with ``stop()``) and ``python3 -m dgate.web`` (on its own).
"""
