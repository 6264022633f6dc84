# Two commands do everything on a fresh machine:
#   make run    install, then launch the app on the embedded default models
#   make test   install (with Debian's chromium for the browser test), then run the whole suite
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: run test install browser solve

$(STAMP): requirements.txt requirements-dev.txt
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	CMAKE_ARGS="-DLLAVA_BUILD=OFF" $(PY) -m pip install -q -r requirements-dev.txt  # llama.cpp compiles once
	touch $(STAMP)

install: $(STAMP)

browser:
	@test -x /usr/bin/chromium || (apt-get update -qq && apt-get install -y -qq chromium >/dev/null)

run: install
	$(PY) app.py

solve: install
	$(PY) -m reasoning_core solve --task arith --example 0 --strategy beam_search

test: install browser
	$(PY) -m pytest -q
