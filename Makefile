# The README's two commands: `make demo` runs the main job, `make test` runs every test
# (tests/test_docs.py builds the documentation site strictly and runs its examples).
# Both install what they need first (scripts/bootstrap.sh). `make docs` writes the site to site/.
VENV := .venv
STAMP := $(VENV)/.bootstrapped

.PHONY: demo test lint docs

demo: $(STAMP)
	$(VENV)/bin/pgeventstore demo

test: $(STAMP) lint
	$(VENV)/bin/python -m pytest $(PYTEST_ARGS)

docs: $(STAMP)
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs build --strict --site-dir site

# The blocking modules are generated from their asyncio sources: lint fails when one is stale.
lint: $(STAMP)
	$(VENV)/bin/python scripts/async_to_sync.py --check
	$(VENV)/bin/ruff check py tests scripts conftest.py examples/bank
	$(VENV)/bin/ruff format --check py tests scripts conftest.py examples/bank
	$(VENV)/bin/mypy

$(STAMP): pyproject.toml scripts/bootstrap.sh examples/node/package-lock.json
	scripts/bootstrap.sh
	touch $@
