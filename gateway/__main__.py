"""``python -m gateway`` is ``patrol-gateway``."""

import sys

from gateway.cli import main

sys.exit(main())
