"""`python -m safegen.scan DIR ...`: the same as `safegen scan-dataset DIR ...`."""

import sys

from safegen.scan.cli import main

sys.exit(main())
