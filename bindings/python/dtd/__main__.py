"""``python -m dtd``: the command line (:mod:`dtd.cli`)."""
from .cli import main

raise SystemExit(main())
