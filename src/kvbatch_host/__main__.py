"""`python -m kvbatch_host ...` is the `kvbatch` command (for a venv whose scripts are not on PATH)."""

import sys

from kvbatch_host.cli import main

sys.exit(main())
