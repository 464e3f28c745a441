#!/usr/bin/env bash
# Move yt-dlp to its newest release (or to the version given): pin it in pyproject.toml, re-lock,
# reinstall, and run the link tests (pytest -m links). Link fetching leans on yt-dlp's internals,
# so keep a release only when those tests pass; `git checkout pyproject.toml requirements*.lock`
# followed by `scripts/bootstrap.sh dev` goes back.
# Usage: scripts/upgrade_ytdlp.sh [version]      (make upgrade-ytdlp [YTDLP=version])
set -euo pipefail
cd "$(dirname "$0")/.."
venv="${VENV:-.venv}"
[ -x "$venv/bin/uv" ] || scripts/bootstrap.sh dev

old="$(sed -n 's/^ *"yt-dlp==\([^"]*\)".*/\1/p' pyproject.toml)"
new="${1:-$(echo yt-dlp | "$venv/bin/uv" pip compile - --quiet --no-header --no-annotate --refresh-package yt-dlp --python-version 3.11 | sed -n 's/^yt-dlp==//p')}"
if [ -z "$old" ] || [ -z "$new" ]; then
  echo "upgrade-ytdlp: could not read the pinned (${old:-?}) or the newest (${new:-?}) yt-dlp version" >&2
  exit 1
fi
if [ "$old" = "$new" ]; then
  echo "upgrade-ytdlp: yt-dlp $old is already the pinned version" >&2
else
  echo "upgrade-ytdlp: yt-dlp $old -> $new" >&2
  sed -i "s/\"yt-dlp==$old\"/\"yt-dlp==$new\"/" pyproject.toml
  make --no-print-directory lock
fi
scripts/bootstrap.sh dev
"$venv/bin/python" -m pytest -m links -q
