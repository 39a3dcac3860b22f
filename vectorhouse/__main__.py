"""`python -m vectorhouse` runs the CLI."""

import sys

from vectorhouse.cli import main

sys.exit(main())
