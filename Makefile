# Two commands matter: `make demo` and `make test`. Both start from a bare Python with pip.
PYTHON ?= python3
UV := $(PYTHON) -m uv
# Never download an interpreter: use the Python this machine has.
export UV_PYTHON_DOWNLOADS := never

.PHONY: demo test lint docs tools clean

# Bake the default project into .demo/, set it up on SQLite and serve it.
demo: tools
	UV="$(UV)" scripts/demo

# Everything CI checks: lint, docs, hook tests, the render matrix and the baked projects' suites.
test: lint docs
	$(UV) run pytest

lint: tools
	$(UV) run ruff check hooks tests docs
	$(UV) run ruff format --check hooks tests docs

docs: tools
	$(UV) run sphinx-build --fail-on-warning --keep-going --nitpicky --quiet -b html docs docs/_build/html

tools:
	@$(UV) --version >/dev/null 2>&1 || $(PYTHON) -m pip install --quiet "uv>=0.8"
	$(UV) sync --locked

clean:
	rm -rf .demo docs/_build .pytest_cache .ruff_cache
