"""``python -m tests.bench``: what `make bench` runs (see run.py)."""

import sys

from .run import main

sys.exit(main())
