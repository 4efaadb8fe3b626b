"""`python -m emergency ...`: the command line."""

import sys

from emergency.cli import main

sys.exit(main())
