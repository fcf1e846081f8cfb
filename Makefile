# Two commands: `make demo` and `make test`. Both build the environment first.
PYTHON ?= python3
VENV := .venv
LOCK := requirements.lock
STAMP := $(VENV)/.lock-$(shell sha256sum $(LOCK) | cut -c1-16)
PY := $(VENV)/bin/python
export RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER := 0
export PYTHONPATH := $(CURDIR)

.PHONY: env demo test bench clean

env: $(STAMP)

# The environment is keyed on the hash of the lock file: same pins -> reused, new pins -> rebuilt.
$(STAMP): $(LOCK) pyproject.toml
	@if [ ! -f $(STAMP) ]; then rm -rf $(VENV); fi
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r $(LOCK)
	$(PY) -m pip install --quiet --no-deps --no-build-isolation -e .
	touch $(STAMP)

demo: env
	$(PY) -m workflows.demo $(ARGS)

test: env
	$(PY) -m pytest $(ARGS)

bench: env
	$(PY) -m benchmarks.run_all $(ARGS)

clean:
	rm -rf $(VENV) runs .pytest_cache
