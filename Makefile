# The two commands a newcomer needs. Both install what they need first (scripts/bootstrap.sh).
VENV ?= .venv

.PHONY: demo test lint bench

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
