# SPDX-License-Identifier: Apache-2.0
"""Shared helpers of the benchmarks: the collection on sys.path, machine facts, time and statistics."""
import datetime
import os
import platform
import statistics
import subprocess
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
COLLECTIONS = os.path.join(REPO, '.venv', 'collections')
VENV_BIN = os.path.join(REPO, '.venv', 'bin')
if COLLECTIONS not in sys.path:
    sys.path.insert(0, COLLECTIONS)


class BenchError(RuntimeError):
    """The benchmark cannot go on (or found a broken result): the message says why."""


def utcnow():
    return datetime.datetime.now(datetime.timezone.utc)


def iso(moment):
    return moment.astimezone(datetime.timezone.utc).strftime('%Y-%m-%dT%H:%M:%S.') + '%03dZ' % (
        moment.microsecond // 1000)


def parse_ts(text):
    """ISO-8601 text (Nova's naive UTC, or with Z / an offset) as epoch seconds; None for nothing."""
    if not text:
        return None
    if isinstance(text, (int, float)):
        return float(text)
    value = datetime.datetime.fromisoformat(str(text).replace('Z', '+00:00'))
    if value.tzinfo is None:
        value = value.replace(tzinfo=datetime.timezone.utc)
    return value.timestamp()


def merge_intervals(intervals):
    """Union of [start, end] intervals as a sorted list of disjoint ones."""
    out = []
    for start, end in sorted((a, b) for a, b in intervals if a is not None and b is not None and b > a):
        if out and start <= out[-1][1]:
            out[-1][1] = max(out[-1][1], end)
        else:
            out.append([start, end])
    return out


def covered(intervals, lo=None, hi=None):
    """Seconds covered by the union of the intervals, clipped to [lo, hi] when given."""
    total = 0.0
    for start, end in merge_intervals(intervals):
        if lo is not None:
            start = max(start, lo)
        if hi is not None:
            end = min(end, hi)
        total += max(0.0, end - start)
    return total


def spread(values):
    """{median, min, max, n} of numbers (None when there are none)."""
    values = [v for v in values if v is not None]
    if not values:
        return None
    return {'median': round(statistics.median(values), 4), 'min': round(min(values), 4),
            'max': round(max(values), 4), 'n': len(values)}


def _read(path):
    try:
        with open(path, encoding='utf-8') as handle:
            return handle.read()
    except OSError:
        return ''


def _version(module):
    try:
        from importlib import metadata  # pylint: disable=import-outside-toplevel
        return metadata.version(module)
    except Exception:  # pylint: disable=broad-except
        return None


def git_commit():
    try:
        return subprocess.run(['git', 'rev-parse', '--short', 'HEAD'], cwd=REPO, capture_output=True, text=True,
                              check=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None


def machine_facts():
    """What the figures came from: CPU, memory, kernel, OS, Python and the tools' versions."""
    model = next((line.split(':', 1)[1].strip() for line in _read('/proc/cpuinfo').splitlines()
                  if line.startswith('model name')), platform.processor() or None)
    mem_kb = next((int(line.split()[1]) for line in _read('/proc/meminfo').splitlines()
                   if line.startswith('MemTotal:')), 0)
    os_name = next((line.split('=', 1)[1].strip().strip('"') for line in _read('/etc/os-release').splitlines()
                    if line.startswith('PRETTY_NAME=')), platform.system())
    return {
        'hostname': platform.node(),
        'cpu_count': os.cpu_count(),
        'cpu_model': model,
        'memory_gib': round(mem_kb / 1024 / 1024, 1),
        'kernel': platform.release(),
        'os': os_name,
        'python': platform.python_version(),
        'versions': {name: _version(name) for name in
                     ('ansible-core', 'openstacksdk', 'python-novaclient', 'matplotlib')},
        'git_commit': git_commit(),
    }
