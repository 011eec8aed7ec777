"""Lets `python -m canary` run the command line."""

from canary.cli import main

raise SystemExit(main())
