"""``python -m bundle``: the command-line interface."""

import sys

from bundle.cli import main

sys.exit(main())
