"""`python -m davserver` is the `assetdav` command."""

import sys

from .cli import main

sys.exit(main())
