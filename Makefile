# Two commands do all the set-up on a fresh Debian/Ubuntu machine:
#   make demo   installs what is missing, then runs the main job
#   make test   installs what is missing, then runs the test suite
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
# System libraries (installed with apt-get when running as root); see docs/headless.md.
APT    := libegl1 libgl1 libfreetype6 libfontconfig1 libportaudio2 jackd2 xvfb xauth

.PHONY: demo test bench system clean

system:
	@if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  missing=""; for p in $(APT); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	  if [ -n "$$missing" ]; then echo "apt-get install$$missing"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null; fi; \
	fi

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev,ray]'
	$(PY) -c "from dmmlive.neurons import tickvm; tickvm.warm()"  # the compiled tick, compiled once (cached)
	touch $(STAMP)

demo: system $(STAMP)
	$(VENV)/bin/dmmlive render patches/demo.dmm -o demo.mp4 --seconds 10
	@echo "demo: $$(pwd)/demo.mp4 (H.264 + AAC: any video player)"

test: system $(STAMP)
	$(VENV)/bin/ruff check dmmlive
	$(PY) -m pytest -q

bench: system $(STAMP)
	$(PY) benchmarks/core.py
	$(PY) benchmarks/audio.py
	$(PY) benchmarks/selfmod.py

clean:
	rm -rf $(VENV) build *.egg-info
