#!/usr/bin/env bash
# Install what Earworm needs on a fresh Debian/Ubuntu-like machine with Python 3.11:
# ffmpeg (system package, when missing) and a virtual environment with the project.
# Dependencies come from the lock files, exact versions with their hashes checked:
# requirements.lock, or requirements-dev.lock when the extras include dev. Other extras (bench,
# keybench, export, ...) are not locked: they are added on top, keeping the locked versions.
# Usage: scripts/bootstrap.sh [extras]   e.g. scripts/bootstrap.sh dev
set -euo pipefail
cd "$(dirname "$0")/.."
extras="${1:-}"
venv="${VENV:-.venv}"

as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

if ! command -v ffmpeg >/dev/null 2>&1 || ! command -v ffprobe >/dev/null 2>&1; then
  if command -v apt-get >/dev/null 2>&1; then
    echo "bootstrap: installing ffmpeg (apt-get)" >&2
    as_root apt-get update -qq
    DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq --no-install-recommends ffmpeg >/dev/null
  else
    echo "bootstrap: ffmpeg is missing and apt-get is not available; m4a/aac/webm/opus will be refused" >&2
  fi
fi

python="${PYTHON:-}"
if [ -z "$python" ]; then
  for candidate in python3.11 python3.12 python3.13 python3; do
    if command -v "$candidate" >/dev/null 2>&1 && "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
      python="$candidate"; break
    fi
  done
fi
[ -n "$python" ] || { echo "bootstrap: Python 3.11 or newer is needed" >&2; exit 1; }

if [ ! -x "$venv/bin/python" ]; then
  if ! "$python" -m venv "$venv" 2>/dev/null; then
    echo "bootstrap: installing python3-venv (apt-get)" >&2
    as_root apt-get update -qq && DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq python3-venv >/dev/null
    "$python" -m venv "$venv"
  fi
fi

lock=requirements.lock
case ",$extras," in *,dev,*) lock=requirements-dev.lock ;; esac
unlocked="$(echo "$extras" | tr ',' '\n' | grep -vx -e dev -e '' | paste -sd, - || true)"
stamp="$venv/.installed-$(echo "$extras" | tr ',' '-')-$(cat pyproject.toml "$lock" | sha256sum | cut -c1-12)"
if [ ! -f "$stamp" ]; then
  "$venv/bin/python" -m pip install -q --upgrade pip >/dev/null
  "$venv/bin/python" -m pip install -q --require-hashes --no-warn-conflicts -r "$lock"
  "$venv/bin/python" -m pip install -q --no-deps -e .
  [ -z "$unlocked" ] || "$venv/bin/python" -m pip install -q -e ".[$unlocked]"
  if ! problems="$("$venv/bin/python" -m pip check)"; then
    echo "$problems" >&2
    echo "bootstrap: $lock does not satisfy pyproject.toml; run 'make lock' and commit the lock files" >&2
    exit 1
  fi
  rm -f "$venv"/.installed-*  # an older stamp no longer says what is installed
  touch "$stamp"
fi
