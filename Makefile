# The README's two commands: `make demo` runs the main job, `make test` runs every test.
# Both install what they need first (scripts/bootstrap.sh).
VENV := .venv
STAMP := $(VENV)/.bootstrapped

.PHONY: demo test lint

demo: $(STAMP)
	$(VENV)/bin/pgeventstore demo

test: $(STAMP) lint
	$(VENV)/bin/python -m pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(VENV)/bin/ruff check py tests scripts conftest.py
	$(VENV)/bin/ruff format --check py tests scripts conftest.py
	$(VENV)/bin/mypy

$(STAMP): pyproject.toml scripts/bootstrap.sh
	scripts/bootstrap.sh
	touch $@
