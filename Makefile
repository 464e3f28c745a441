# The two commands a newcomer needs. Both install what they need first (scripts/bootstrap.sh), from
# the lock files: requirements.lock (what the bot runs on) and requirements-dev.lock (+ the tests).
VENV ?= .venv
# One lock for every platform and Python >= 3.11, one version of each package, hashes checked.
LOCK_FLAGS = --universal --python-version 3.11 --fork-strategy fewest --generate-hashes --quiet --custom-compile-command "make lock"

.PHONY: demo test bench lock upgrade-ytdlp

demo:  ## install, then run the offline demo on the bundled clips
	scripts/bootstrap.sh
	$(VENV)/bin/earworm demo

test:  ## install, then lint and run the whole test suite
	scripts/bootstrap.sh dev
	$(VENV)/bin/ruff check .
	$(VENV)/bin/python -m pytest -q

bench:  ## benchmarks (not part of the test suite)
	scripts/bootstrap.sh dev,bench
	$(VENV)/bin/python tests/bench/bench_analysis.py

lock:  ## re-resolve the lock files from pyproject.toml (from PyPI; pins that still fit are kept)
	test -x $(VENV)/bin/uv || scripts/bootstrap.sh dev
	$(VENV)/bin/uv pip compile pyproject.toml --extra dev $(LOCK_FLAGS) -o requirements-dev.lock
	$(VENV)/bin/uv pip compile pyproject.toml -c requirements-dev.lock $(LOCK_FLAGS) -o requirements.lock

upgrade-ytdlp:  ## pin the newest yt-dlp (or YTDLP=version), re-lock, reinstall, run the link tests
	scripts/upgrade_ytdlp.sh $(YTDLP)
