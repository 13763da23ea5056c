"""`python -m lotf` is the `lotf` command."""

from lotf.cli import main

raise SystemExit(main())
