"""`python -m jointpool` is the same as the `jointpool` command."""

from jointpool.cli import main

raise SystemExit(main())
