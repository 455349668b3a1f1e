"""``python -m bench``: run every benchmark scenario and print the table."""

import sys

from bench.runner import main

sys.exit(main())
