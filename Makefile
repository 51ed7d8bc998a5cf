# rsq: `make demo` runs the main job on the embedded demo, `make test` runs the tests.
# Both create (or reuse) .venv and install everything they need.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEMO_OUT ?= out/demo

.PHONY: install demo test bench clean

install: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/rsq tiles info data:sen1floods11 ../shared/data/rasters/rgbn.tif
	$(BIN)/rsq tiles render data:sen1floods11 --out $(DEMO_OUT)
	$(BIN)/rsq tiles render data:sen1floods11:s2 --view false --out $(DEMO_OUT)/s2-false-colour.png

test: $(STAMP)
	$(BIN)/python -m pytest

clean:
	rm -rf $(VENV) out
