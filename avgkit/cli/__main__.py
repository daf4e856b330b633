"""`python -m avgkit.cli`: the `avgkit` command."""

import sys

from avgkit.cli import main

sys.exit(main())
