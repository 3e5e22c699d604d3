"""`python -m supermasks.cli`: the same command as `supermasks`."""

import sys

from supermasks.cli.commands import main

sys.exit(main())
