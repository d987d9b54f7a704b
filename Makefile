# The two promises: `make run` and `make test` do every set-up step themselves.
PYTHON ?= python3.11
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
HOST   ?= 127.0.0.1
PORT   ?= 8000

export MANDANT_HOME ?= $(CURDIR)
export SITE_URL ?= http://$(HOST):$(PORT)

.PHONY: run test install lint types check-translations messages clean bench

$(BIN)/python:
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "Python 3.11 is required ($(PYTHON) not found)"; exit 1; }
	$(PYTHON) -m venv $(VENV)

$(STAMP): $(BIN)/python requirements/lock.txt requirements/dev.txt pyproject.toml
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements/dev.txt
	$(BIN)/python -m pip install --quiet --no-deps -e .
	touch $(STAMP)

install: $(STAMP)

run: install
	@mkdir -p var
	$(BIN)/mandant migrate --noinput
	$(BIN)/mandant demo --url http://$(HOST):$(PORT)/
	$(BIN)/mandant serve $(HOST):$(PORT)

test: install
	@mkdir -p var
	env -u DATABASE_URL $(BIN)/python -m pytest -p no:cacheprovider $(PYTEST_ARGS)
	@if [ -n "$(DATABASE_URL)" ]; then \
		echo "== again on $$(echo $(DATABASE_URL) | sed 's#//[^@]*@#//#')"; \
		$(BIN)/python -m pytest -p no:cacheprovider $(PYTEST_ARGS); \
	fi

lint: install
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

types: install
	$(BIN)/mypy

messages: install
	cd src/mandant && ../../$(BIN)/mandant makemessages -l de --no-obsolete --add-location file && ../../$(BIN)/mandant compilemessages -l de

check-translations: install
	$(BIN)/python scripts/check_translations.py

bench: install
	$(BIN)/python bench/tenants_bench.py
	$(BIN)/python bench/notices_bench.py
	$(BIN)/python bench/content_bench.py
	$(BIN)/python bench/invoices_bench.py
	$(BIN)/python bench/contacts_import_bench.py
	$(BIN)/python bench/campaign_bench.py

clean:
	rm -rf $(VENV) var
