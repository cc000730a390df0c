"""State of one ``dgate`` invocation, shared by the option handlers."""
from __future__ import annotations

from dataclasses import dataclass, field

from ..config import Configuration
from ..log import Logs, logs as process_logs


class MissingCapability(Exception):
    """An option or command needs a capability that is not built yet.

    The message names the capability, so the user knows what is missing rather than
    getting a silent no-op.
    """

    def __init__(self, what: str, capability: str):
        self.what = what
        self.capability = capability
        super().__init__(f"{what} needs the {capability} capability, "
                         "which this dgate does not have yet")


@dataclass
class Invocation:
    """What the options so far have set (``ParseArgs`` globals in the original)."""

    config: Configuration
    logs: Logs = field(default_factory=lambda: process_logs)
    port: str = ""                    # -p override of TCPPort
    server_address: str = "127.0.0.1"  # -q: where --commands are sent
    ae: str = ""                      # -h override of MyACRNema
    run_server: bool = True
    debug_level: int | None = None    # -b sets 4
    single_thread: bool = False       # -b
    zip_thread: bool = False          # -^ / -#

    @property
    def settings(self):
        return self.config.settings

    @property
    def my_ae(self) -> str:
        return self.ae or self.settings.str("MyACRNema")

    @property
    def tcp_port(self) -> str:
        return self.port or self.settings.str("TCPPort")

    def say(self, text: str) -> None:
        """OperatorConsole output of a listing option; stdout when the console is off.

        The original prints listings (-m, -k, -d) only through OperatorConsole, so a
        bare ``dgate -m`` shows nothing; here it shows the listing.
        """
        if self.logs.operator.on:
            self.logs.operator.printf(text)
        else:
            import sys
            sys.stdout.write(text)
            sys.stdout.flush()
