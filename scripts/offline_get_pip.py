#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Give ansible-test an offline pip bootstrap.

`ansible-test ... --venv` bootstraps pip in each new virtualenv with a get-pip
script that it downloads from a CI file server, which is unreachable here.  It
first looks for a cached copy at ~/.ansible/test/cache/get_pip_<version>.py;
this script puts a stand-in there that installs pip from the PyPI wheel of the
same version (downloaded once with the ordinary pip client).

Usage: offline_get_pip.py --install   (idempotent; run by scripts/setup)
"""
import glob
import os
import re
import subprocess
import sys

import ansible_test

STANDIN = '''\
# Offline stand-in for ansible-test's get-pip bootstrap (written by Escalator's
# scripts/offline_get_pip.py): runs pip from the wheel next to this file.
import sys
sys.path.insert(0, {wheel!r})
from pip._internal.cli.main import main
args = [a for a in sys.argv[1:] if a not in ('--no-setuptools', '--no-wheel')]
sys.exit(main(['install', '--upgrade', '--force-reinstall'] + args))
'''


def pinned_pip_version():
    source = os.path.join(os.path.dirname(ansible_test.__file__), '_internal', 'python_requirements.py')
    with open(source, encoding='utf-8') as handle:
        match = re.search(r"pip='([0-9.]+)'", handle.read())
    if not match:
        sys.exit('cannot find the pip version pinned by ansible-test in %s' % source)
    return match.group(1)


def install():
    version = pinned_pip_version()
    cache = os.path.expanduser('~/.ansible/test/cache')
    target = os.path.join(cache, 'get_pip_%s.py' % version.replace('.', '_'))
    wheels = glob.glob(os.path.join(cache, 'pip-%s-*.whl' % version))
    if not wheels:
        os.makedirs(cache, exist_ok=True)
        subprocess.run([sys.executable, '-m', 'pip', 'download', '-q', '--no-deps', '--only-binary=:all:',
                        '-d', cache, 'pip==%s' % version], check=True, stderr=subprocess.DEVNULL)
        wheels = glob.glob(os.path.join(cache, 'pip-%s-*.whl' % version))
    content = STANDIN.format(wheel=wheels[0])
    if not os.path.exists(target) or open(target, encoding='utf-8').read() != content:
        with open(target, 'w', encoding='utf-8') as handle:
            handle.write(content)


if __name__ == '__main__':
    if sys.argv[1:] != ['--install']:
        sys.exit(__doc__)
    install()
