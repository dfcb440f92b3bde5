"""Allow `python3 -m inosync`."""

import sys

from inosync.cli import main

sys.exit(main())
