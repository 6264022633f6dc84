# Two commands do everything on a fresh machine:
#   make run    install the runtime, then launch the app on the embedded default models (assets/)
#   make test   install runtime + test tools (and Debian's chromium for the browser test), lint, run the whole suite
VENV := .venv
PY   := $(VENV)/bin/python

.PHONY: run test browser solve screenshots

$(PY):
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip

$(VENV)/.runtime: requirements.txt | $(PY)
	$(PY) -m pip install -q -r requirements.txt
	touch $@

# llama-cpp-python compiles llama.cpp on first install (minutes); the multimodal library is skipped
$(VENV)/.dev: requirements-dev.txt $(VENV)/.runtime
	CMAKE_ARGS="-DLLAVA_BUILD=OFF" $(PY) -m pip install -q -r requirements-dev.txt
	touch $@

browser:
	@test -x /usr/bin/chromium || (apt-get update -qq && apt-get install -y -qq chromium >/dev/null)

run: $(VENV)/.runtime
	$(PY) app.py

solve: $(VENV)/.runtime
	$(PY) -m reasoning_core solve --task arith --example 0 --strategy beam_search

test: $(VENV)/.dev browser
	$(VENV)/bin/ruff check .
	$(PY) -m pytest -q

# the README's pictures: the browser test, writing its screenshots into docs/
screenshots: $(VENV)/.dev browser
	STEPWISE_DOCS_SCREENSHOTS=1 $(PY) -m pytest -q tests/test_browser.py
