"""State of one ``dgate`` invocation, shared by the option handlers."""
from __future__ import annotations

from ..config import Configuration
from ..log import Logs
from ..log import logs as process_logs


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


class Invocation:
    """What the options so far have set (``ParseArgs`` globals in the original)."""

    def __init__(self, config: Configuration, logs: Logs | None = None):
        self.config = config
        self.logs: Logs = logs or process_logs
        self.port = ""                        # -p override of TCPPort
        self.server_address = "127.0.0.1"     # -q: where --commands are sent
        self.ae = ""                          # -h override of MyACRNema
        self.run_server = True
        self.debug_level: int | None = None   # -b sets 4
        self.single_thread = False            # -b
        self.zip_thread = False               # -^ / -#

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
