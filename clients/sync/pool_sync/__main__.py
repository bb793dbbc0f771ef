"""`python -m pool_sync --config sync.toml`."""

import sys

from pool_sync.cli import main

sys.exit(main(sys.argv[1:]))
