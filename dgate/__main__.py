"""``python -m dgate`` is the same as the ``dgate`` console script."""
import sys

from .cli.main import main

sys.exit(main())
