# SPDX-License-Identifier: Apache-2.0
"""Escalator's benchmarks (scripts/bench, docs/benchmarks.md). Not part of the collection."""
