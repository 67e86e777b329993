# SPDX-License-Identifier: Apache-2.0
"""The benchmarks (bench/) are a package at the repository's top: make it importable."""
import os
import sys

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
if REPO not in sys.path:
    sys.path.insert(0, REPO)
