"""`python -m examples.app`: run the sample app (see server.py for its env vars)."""

import sys

from examples.app.server import main

sys.exit(main())
