"""`python -m otc` is the `otc` command."""

import sys

from otc.cli import main

sys.exit(main())
