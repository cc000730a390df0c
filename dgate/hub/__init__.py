"""The process model: the hub process and its workers (README "Server architecture").

:class:`~.hub.Hub` (listener, accounting, worker pool, hub services and tasks),
:mod:`.worker` (the worker process), :mod:`.wire` (messages and fd passing),
:mod:`.state` (what is broadcast after commands), :mod:`.plugins` (modules loaded by
every process).
"""
