# Two commands on a fresh clone: `make demo` and `make test`.
PYTHON ?= python3.11
VENV ?= .venv
PY := $(VENV)/bin/python
# Test processes: most tests wait on a CLI subprocess, so two workers keep both cores busy.
JOBS ?= 2
STAMP := $(VENV)/.installed
export DVC_NO_ANALYTICS := 1
export KERAS_BACKEND := jax
export GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT := false
# hdversion is installed editable: with this set (some CI images set it) no .pyc is ever
# written, and every one of the test suite's CLI calls compiles the package again.
unexport PYTHONDONTWRITEBYTECODE

.PHONY: install demo test reliability bench lint constraints clean-demo

install: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(PY) -m pip install --quiet --disable-pip-version-check -c constraints.txt -e '.[pipeline,dev]'
	touch $(STAMP)

# Azurite (the Azure Blob emulator) for the cloud tests, pinned in package-lock.json.
node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --silent
	touch $@

demo: $(STAMP)
	bash scripts/demo.sh

test: $(STAMP) node_modules/.installed
	$(VENV)/bin/ruff check hdversion tests bench
	$(VENV)/bin/mypy
	$(VENV)/bin/pytest -n $(JOBS) --dist worksteal $(PYTEST_ARGS)

# The long tier: kill -9 at every pause point and at random instants (docs/reliability.md).
reliability: $(STAMP) node_modules/.installed
	rm -f build/reliability.jsonl
	$(VENV)/bin/pytest -m reliability $(PYTEST_ARGS)
	$(PY) scripts/reliability_report.py build/reliability.jsonl

# Benchmarks: ratios against baselines measured in the same run, every part at issue 12's
# sizes (bench/README.md; `bench/run.py --only PART` runs one part).
bench: $(STAMP)
	$(PY) bench/run.py --repeat 3 --chart bench/scale.png --json build/bench.json

lint: $(STAMP)
	$(VENV)/bin/ruff check hdversion tests bench
	$(VENV)/bin/mypy

# Re-pin every dependency from the ranges in pyproject.toml.
constraints:
	rm -rf /tmp/hdversion-pin && $(PYTHON) -m venv /tmp/hdversion-pin
	/tmp/hdversion-pin/bin/pip install --quiet --upgrade pip
	/tmp/hdversion-pin/bin/pip install --quiet '.[pipeline,dev]'
	{ echo "# Pinned versions for reproducible installs (make constraints regenerates)."; \
	  /tmp/hdversion-pin/bin/pip freeze --exclude hdversion; } > constraints.txt
