# samviz — two commands: `make run` starts the app, `make test` runs every test.
# Both create or refresh the local virtual environment .venv from requirements.txt when needed.
# `make lint` checks the code style (ruff, configured in pyproject.toml); CI runs it after the tests.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.requirements-installed
PORT ?= 8501

.PHONY: run test test-fast lint browser system-packages train bench evaluate clean

$(STAMP): requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.txt
	cp requirements.txt $(STAMP)

run: $(STAMP)
	$(PY) -m streamlit run app.py --server.port $(PORT)

# The Debian packages the tests need (chromium, its font, nginx), each checked on its own and installed when
# missing; never a downloaded browser build. Fast when everything is there (three dpkg queries).
system-packages:
	@bash scripts/install_system_packages.sh

browser: system-packages

# Every test, with every prerequisite: SAMVIZ_TESTS_STRICT makes a test that would skip for a missing package,
# module or shipped file fail instead (tests/conftest.py), so a clean run ends with 0 skipped; a test file that
# cannot be collected is an error that does not stop the others. The tests run in TEST_WORKERS processes
# (pytest-xdist; one per core, at most 4: each test's torch is on one thread, and the browser tests start their own
# servers on free ports); TEST_WORKERS=0 runs them in this one process.
TEST_WORKERS ?= $(shell n=$$(nproc 2>/dev/null || echo 1); [ "$$n" -gt 4 ] && n=4; echo $$n)
test: $(STAMP) system-packages
	SAMVIZ_TESTS_STRICT=1 $(PY) -m pytest -q --continue-on-collection-errors -n $(TEST_WORKERS)

# Unit tests only (no browser, no slow tests)
test-fast: $(STAMP)
	$(PY) -m pytest -q -n $(TEST_WORKERS) -m "not browser and not slow"

lint: $(STAMP)
	$(VENV)/bin/ruff check .

bench: $(STAMP)
	$(PY) -m samviz.bench --models ntm,dam,sam,sam-exact,sdnc,dnc --slots 1024,16384,131072,1048576 --batch 8 --heads 4 --steps 10

# Every result the app and the READMEs show, regenerated from today's code on this machine (samviz.results;
# resumable: run it again to go on). PLAN=quick is the budgeted form; BUDGET_MIN=60 stops starting new work after
# 60 minutes. `.venv/bin/python -m samviz.results --check` lists what is stale or missing.
.PHONY: results
PLAN ?= full
results: $(STAMP)
	$(PY) -m samviz.results run --plan $(PLAN) $(if $(BUDGET_MIN),--budget-min $(BUDGET_MIN))

evaluate: $(STAMP)
	$(PY) -m samviz.evaluate --all

clean:
	rm -rf $(VENV) .pytest_cache build *.egg-info
