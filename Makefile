PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

CATALOG := web/translations/en/LC_MESSAGES/messages

.PHONY: demo test bench clean translations

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip setuptools wheel

$(STAMP): $(BIN)/python setup.cfg pyproject.toml
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

# The English pages: compiled from the committed catalog.
$(CATALOG).mo: $(CATALOG).po $(STAMP)
	$(BIN)/pybabel compile --statistics -d web/translations

# After changing page texts: extract them and merge into the catalog, then translate the new entries.
translations: $(STAMP)
	$(BIN)/pybabel extract -F babel.cfg -k _l -k N_ --no-location --sort-output -o web/translations/messages.pot .
	$(BIN)/pybabel update --no-fuzzy-matching --ignore-obsolete -i web/translations/messages.pot -d web/translations
	rm web/translations/messages.pot

demo: $(STAMP) $(CATALOG).mo
	$(BIN)/unionflow demo setup
	$(BIN)/unionflow run --host 127.0.0.1 --port 5000

# Under CI=true the suite must not skip a service: unless told otherwise it uses this machine's
# PostgreSQL and Redis, as .ci/run does.
ifdef CI
export UNIONFLOW_TEST_DATABASE_URL ?= postgresql+psycopg://postgres@127.0.0.1:5432/test
export UNIONFLOW_TEST_REDIS_URL ?= redis://127.0.0.1:6379/11
endif

# Two processes (pytest-xdist), each with a PostgreSQL and a Redis database of its own
# (tests/conftest.py); a test file stays in one process, with its module fixtures.
TEST_PROCESSES ?= 2

# The import order of .importlinter first: an arrow against the layers fails the build.
test: $(STAMP) $(CATALOG).mo
	$(BIN)/lint-imports
	$(BIN)/python -m pytest -n $(TEST_PROCESSES) --dist loadfile

bench: $(STAMP)
	$(BIN)/python bench/approvals.py
	$(BIN)/python bench/inbox_page.py
	$(BIN)/python bench/deadline_scan.py
	$(BIN)/python bench/audit_export.py

clean:
	rm -rf $(VENV) instance *.egg-info
