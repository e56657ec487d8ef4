"""``python -m simulators`` is ``patrol-sim``."""

import sys

from simulators.cli import main

sys.exit(main())
