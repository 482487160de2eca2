# Two commands matter: `make demo` and `make test`. Both start from a bare Python with pip.
PYTHON ?= python3
UV := $(PYTHON) -m uv
# Never download an interpreter: use the Python this machine has.
export UV_PYTHON_DOWNLOADS := never

.PHONY: demo test typecheck lint docs bench locks tools clean

# Bake the default project into .demo/, set it up on SQLite and serve it.
demo: tools
	UV="$(UV)" scripts/demo

# Everything CI checks: lint, docs, hook tests, the render matrix and the baked projects' suites.
test: lint docs
	$(UV) run pytest

# Each rendered variant's own `make lint` (ruff, mypy, migrations), as its team would run it:
# the part of `make test` to run again after changing the baked project's code or types.
typecheck: tools
	$(UV) run pytest tests/test_types.py

# Benchmarks, on demand (under 20 minutes): figures beside the references of bench/README.md,
# written to bench/results/latest.json and latest.md. Needs PostgreSQL and Redis on 127.0.0.1.
# PARTS=ingest,reads runs only those parts (refresh, ingest, reads, projection, first-green,
# webhooks, exports, mqtt); PARTS=partitions, the 50M-reading tables (13 minutes), runs only
# when named.
bench: tools
	$(UV) run python -m bench $(PARTS)

# Refresh the uv.lock each dependency set of the baked project ships with, after a change to its
# pyproject.toml; UPGRADE=1 also moves every package to its newest version allowed.
# tests/test_locks.py fails while one is stale.
locks: tools
	$(UV) run python -m tests.locking $(if $(UPGRADE),--upgrade)

lint: tools
	$(UV) run ruff check hooks local_extensions.py tests docs bench
	$(UV) run ruff format --check hooks local_extensions.py tests docs bench

docs: tools
	$(UV) run sphinx-build --fail-on-warning --keep-going --nitpicky --quiet -b html docs docs/_build/html

tools:
	@$(UV) --version >/dev/null 2>&1 || $(PYTHON) -m pip install --quiet "uv>=0.8"
	$(UV) sync --locked

clean:
	rm -rf .demo bench/.work docs/_build .pytest_cache .ruff_cache
