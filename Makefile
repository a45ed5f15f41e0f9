# The commands the README promises: `make run`, `make test` and `make lint`.
# Each step leaves a stamp file, so a second run reuses what is there.

PYTHON ?= python3
PORT ?= 5000
# Links in emails and on pages (invitations, resets) name the address the app is served on: the port too.
PUBLIC_URL := $(or $(PORTFOLIO_PUBLIC_URL),http://127.0.0.1:$(PORT))
VENV := .venv
BIN := $(VENV)/bin
STAMPS := .make
FLASK := $(BIN)/flask --app portfolio
CHROMIUM ?= $(or $(PORTFOLIO_CHROMIUM),/usr/bin/chromium)

.PHONY: run dev test lint bench setup browser database clean

# What people try is what they deploy: gunicorn (portfolio/gunicorn_conf.py) and
# the task consumer that sends email, stopped together (Ctrl-C).
run: setup database
	@echo "Serving the portfolio on http://127.0.0.1:$(PORT) with gunicorn (demo accounts: see README.md)"
	PORTFOLIO_ENV=development PORTFOLIO_PUBLIC_URL=$(PUBLIC_URL) $(BIN)/huey_consumer portfolio.worker.huey --workers 2 --max-delay 2 & consumer=$$!; \
	trap 'kill $$consumer 2>/dev/null' EXIT INT TERM; \
	PORTFOLIO_ENV=development PORTFOLIO_PUBLIC_URL=$(PUBLIC_URL) PORT=$(PORT) $(BIN)/gunicorn --config portfolio/gunicorn_conf.py

# Flask's development server: reloads on code changes; static files by their
# plain names, uncompressed, so edits show at once (the built copies are removed,
# and the next make run or make test builds them again); tasks (email) run at
# once in the request (no consumer needed).
dev: setup database
	PORTFOLIO_ENV=development $(FLASK) digest clean >/dev/null
	rm -f $(STAMPS)/static
	PORTFOLIO_ENV=development PORTFOLIO_PUBLIC_URL=$(PUBLIC_URL) PORTFOLIO_TASKS_IMMEDIATE=true $(FLASK) run --debug --host 127.0.0.1 --port $(PORT)

# Lint first: a finding stops the run before the (slow) tests.
test: lint browser
	$(BIN)/pytest $(PYTEST_ARGS)

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy portfolio

# The browser tests drive Debian's Chromium (Playwright downloads no browser).
# Installed here when missing and we may (root with apt-get); otherwise say how.
browser:
	@if [ ! -x "$(CHROMIUM)" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "Installing Debian's chromium for the browser tests"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  else \
	    echo "Chromium not found at $(CHROMIUM): browser tests will be skipped."; \
	    echo "Install it with 'sudo apt-get install chromium' or set PORTFOLIO_CHROMIUM to its path."; \
	  fi; \
	fi

# Not part of `make test`: builds (once, then cached) 200 workers and a 2,000-item portfolio,
# serves the app and a bare Flask app under gunicorn and loads every main page; see README.md.
# BENCH_ARGS="--scale tiny --seconds 2" for a quick run; PORTFOLIO_BENCH_DATABASE_URL for PostgreSQL.
bench: setup
	$(BIN)/python -m tests.bench $(BENCH_ARGS)

setup: $(STAMPS)/python $(STAMPS)/vendor $(STAMPS)/fonts $(STAMPS)/static

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
$(STAMPS)/vendor: $(STAMPS)/node Makefile
	rm -rf static/vendor
	mkdir -p static/vendor/nhsuk static/vendor/htmx
	cp node_modules/nhsuk-frontend/dist/nhsuk/nhsuk-frontend.min.css node_modules/nhsuk-frontend/dist/nhsuk/nhsuk-frontend.min.js static/vendor/nhsuk/
	cp -R node_modules/nhsuk-frontend/dist/nhsuk/assets static/vendor/nhsuk/assets
	cp node_modules/htmx.org/dist/htmx.min.js static/vendor/htmx/
	# No third-party requests: drop the @font-face rules that fetch Frutiger from
	# the NHS's font host; pages use the design system's fallback stack (Arial).
	sed -E -i 's/@font-face\{[^}]*\}//g' static/vendor/nhsuk/nhsuk-frontend.min.css
	! grep -q 'https\?://' static/vendor/nhsuk/nhsuk-frontend.min.css
	# Its four small icons (url(/assets/images/*.svg)) go inside it as data: URIs, so the stylesheet, served
	# under its content hash and cached for a year, names no file that could change under an unchanged name.
	node -e "const fs = require('fs'), css = 'static/vendor/nhsuk/nhsuk-frontend.min.css'; \
	  fs.writeFileSync(css, fs.readFileSync(css, 'utf8').replace(/url\(\/assets\/images\/([\w.-]+\.svg)\)/g, \
	    (_, name) => 'url(data:image/svg+xml;base64,' + fs.readFileSync('static/vendor/nhsuk/assets/images/' + name).toString('base64') + ')'))"
	! grep -q 'url(/' static/vendor/nhsuk/nhsuk-frontend.min.css
	@touch $@

# The panel PDF's fonts (SIL Open Font License, with their licences), from the pinned
# npm packages in package.json: Noto Sans (Latin, Greek, Cyrillic, Vietnamese),
# Noto Sans Arabic, and Noto Sans Hans (Simplified Chinese, GB2312). Only the
# weights the PDF uses are copied; fonts/ is git-ignored.
$(STAMPS)/fonts: $(STAMPS)/node Makefile
	rm -rf fonts
	mkdir -p fonts
	cp node_modules/@expo-google-fonts/noto-sans/400Regular/NotoSans_400Regular.ttf \
	   node_modules/@expo-google-fonts/noto-sans/700Bold/NotoSans_700Bold.ttf \
	   node_modules/@expo-google-fonts/noto-sans-arabic/400Regular/NotoSansArabic_400Regular.ttf \
	   node_modules/@expo-google-fonts/noto-sans-arabic/700Bold/NotoSansArabic_700Bold.ttf \
	   node_modules/@embedpdf/fonts-sc/fonts/NotoSansHans-Regular.otf fonts/
	cp node_modules/@expo-google-fonts/noto-sans/LICENSE_FONT fonts/LICENSE-NotoSans.txt
	cp node_modules/@expo-google-fonts/noto-sans-arabic/LICENSE_FONT fonts/LICENSE-NotoSansArabic.txt
	cp node_modules/@embedpdf/fonts-sc/LICENSE fonts/LICENSE-NotoSansHans.txt
	@touch $@

# Content-hashed copies of every static file (served with a year's caching), their
# gzip and brotli versions, and the manifest url_for('static') reads: rebuilt
# whenever a source file under static/ changes.
STATIC_SOURCES := $(shell find static/css static/js -type f ! -name '*-????????????????????????????????.*' ! -name '*.gz' ! -name '*.br' 2>/dev/null)
$(STAMPS)/static: $(STAMPS)/python $(STAMPS)/vendor $(STATIC_SOURCES)
	PORTFOLIO_ENV=development $(FLASK) digest clean >/dev/null
	PORTFOLIO_ENV=development $(FLASK) digest compile >/dev/null
	@touch $@

clean:
	rm -rf $(VENV) node_modules static/vendor fonts $(STAMPS) instance
