# SPDX-License-Identifier: Apache-2.0
"""python -m escalator: the CLI."""
import sys

from escalator.cli import main

sys.exit(main())
