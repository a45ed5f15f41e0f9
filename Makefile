# The commands the README promises: `make run`, `make test` and `make lint`.
# Each step leaves a stamp file, so a second run reuses what is there.

PYTHON ?= python3
PORT ?= 5000
VENV := .venv
BIN := $(VENV)/bin
STAMPS := .make
FLASK := $(BIN)/flask --app portfolio
CHROMIUM ?= $(or $(PORTFOLIO_CHROMIUM),/usr/bin/chromium)

.PHONY: run test lint setup database clean

run: setup database
	@echo "Serving the portfolio on http://127.0.0.1:$(PORT) (demo accounts: see README.md)"
	PORTFOLIO_ENV=development $(FLASK) run --host 127.0.0.1 --port $(PORT)

# Lint first: a finding stops the run before the (slow) tests.
test: lint
	@if [ ! -x "$(CHROMIUM)" ]; then \
	  echo "Chromium not found at $(CHROMIUM): browser tests will be skipped."; \
	  echo "Install it with 'sudo apt-get install chromium' or set PORTFOLIO_CHROMIUM to its path."; \
	fi
	$(BIN)/pytest $(PYTEST_ARGS)

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy portfolio

setup: $(STAMPS)/python $(STAMPS)/vendor

database: setup
	PORTFOLIO_ENV=development $(FLASK) db upgrade
	PORTFOLIO_ENV=development $(FLASK) frameworks load
	PORTFOLIO_ENV=development $(FLASK) demo

$(STAMPS)/python: pyproject.toml
	@mkdir -p $(STAMPS)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	@touch $@

$(STAMPS)/node: package.json package-lock.json
	@mkdir -p $(STAMPS)
	npm ci --no-audit --no-fund --loglevel=error
	@touch $@

# The built NHS.UK CSS, JS and images and htmx, copied where Flask serves them.
$(STAMPS)/vendor: $(STAMPS)/node
	rm -rf static/vendor
	mkdir -p static/vendor/nhsuk static/vendor/htmx
	cp node_modules/nhsuk-frontend/dist/nhsuk/nhsuk-frontend.min.css node_modules/nhsuk-frontend/dist/nhsuk/nhsuk-frontend.min.js static/vendor/nhsuk/
	cp -R node_modules/nhsuk-frontend/dist/nhsuk/assets static/vendor/nhsuk/assets
	cp node_modules/htmx.org/dist/htmx.min.js static/vendor/htmx/
	@touch $@

clean:
	rm -rf $(VENV) node_modules static/vendor $(STAMPS) instance
