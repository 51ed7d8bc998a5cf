# rsq: `make demo` runs the main job on the embedded demo, `make test` runs the tests.
# Both create (or reuse) .venv and install everything they need.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install demo test reliability bench clean

install: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/rsq demo
	$(BIN)/rsq search "storage tanks near a harbour" --k 5

test: $(STAMP)
	$(BIN)/python -m pytest

reliability: $(STAMP)
	HYPOTHESIS_PROFILE=reliability $(BIN)/python -m pytest -m "not slow and not gpu" -p no:cacheprovider \
		tests/test_hostile.py tests/test_fuzz.py tests/test_faults.py

bench: $(STAMP)
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[bench]'
	$(BIN)/python bench/caption_throughput.py
	$(BIN)/python bench/index_scale.py

clean:
	rm -rf $(VENV) out
