#!/usr/bin/env bash
# Build context of the Escalator execution environment, offline:
#   awx/build-ee-context.sh [-c CONTEXT_DIR] [--build TAG]
# 1. stages the files of this checkout that git knows (tracked, or untracked and not ignored) and builds the
#    collection tarball from them (ansible-galaxy collection build; galaxy.yml's build_ignore applies),
# 2. puts it at awx/ee/opnfv-escalator.tar.gz, where execution-environment.yml expects it,
# 3. runs `ansible-builder create` on execution-environment.yml into CONTEXT_DIR (default: ./context),
# 4. with --build TAG, also builds the image with podman or docker (this step pulls the base image).
# Uses the tools of .venv/ (scripts/setup) when present, else those on PATH.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CONTEXT=$ROOT/context; TAG=
while [ $# -gt 0 ]; do
  case $1 in
    -c|--context) CONTEXT=$(realpath -m "$2"); shift ;;
    --build) TAG=$2; shift ;;
    -h|--help) sed -n '2,9p' "$0"; exit 0 ;;
    *) echo "unknown argument: $1 (see --help)" >&2; exit 2 ;;
  esac
  shift
done
[ ! -x "$ROOT/.venv/bin/ansible-builder" ] || PATH=$ROOT/.venv/bin:$PATH

STAGE=$(mktemp -d); trap 'rm -rf "$STAGE"' EXIT
mkdir -p "$STAGE/src" "$STAGE/out"
(cd "$ROOT" && git ls-files -z --cached --others --exclude-standard \
   | while IFS= read -r -d '' f; do [ -e "$f" ] && printf '%s\0' "$f"; done \
   | tar --null -T - -cf -) | tar -xf - -C "$STAGE/src"
ansible-galaxy collection build --force --output-path "$STAGE/out" "$STAGE/src" >/dev/null
shopt -s nullglob; built=("$STAGE"/out/opnfv-escalator-*.tar.gz)
[ ${#built[@]} -eq 1 ] || { echo "expected one collection tarball, got: ${built[*]:-none}" >&2; exit 1; }
cp "${built[0]}" "$ROOT/awx/ee/.opnfv-escalator.tar.gz.$$"   # atomic replace: another run may be reading it
mv -f "$ROOT/awx/ee/.opnfv-escalator.tar.gz.$$" "$ROOT/awx/ee/opnfv-escalator.tar.gz"
echo "collection: $(basename "${built[0]}") -> awx/ee/opnfv-escalator.tar.gz"

ansible-builder create -f "$ROOT/execution-environment.yml" -c "$CONTEXT" --output-filename Containerfile
[ -f "$CONTEXT/_build/collections/opnfv-escalator.tar.gz" ] \
  || { echo "the build context lacks the collection tarball" >&2; exit 1; }
echo "build context: $CONTEXT (build it: podman build -t escalator-ee $CONTEXT)"

if [ -n "$TAG" ]; then
  engine=$(command -v podman || command -v docker || true)
  [ -n "$engine" ] || { echo "--build needs podman or docker" >&2; exit 1; }
  "$engine" build -f "$CONTEXT/Containerfile" -t "$TAG" "$CONTEXT"
fi
