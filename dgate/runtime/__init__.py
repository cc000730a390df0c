"""Process-wide runtime, the bottom layer: hub services, hub tasks, shared counters.

See :mod:`.services` (``call``/``post``/``service``/``register_task``), :mod:`.counters`
and :mod:`.shm`. Imports nothing else of dgate.
"""
from .counters import Counters, counters
from .services import (
    HubGone,
                       IdleTask,
                       ServiceError,
                       Task,
                       TaskContext,
                       call,
                       local_service,
                       post,
                       register_service,
                       register_task,
                       role,
                       service,
                       set_role,
                       set_transport,
                       tasks,
)

__all__ = ["Counters", "HubGone", "IdleTask", "ServiceError", "Task", "TaskContext", "call", "counters",
           "local_service", "post", "register_service", "register_task", "role", "service", "set_role",
           "set_transport", "tasks"]
