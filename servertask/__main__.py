"""``python -m servertask`` is the same as the ``servertask`` console script."""
import sys

from .main import main

sys.exit(main())
