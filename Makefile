# Two commands on a fresh machine: `make run` (the main job) and `make test`.
# Both create .venv on first use from the pins in requirements.txt, and reuse it until the
# pins change. Nothing is installed or registered outside this folder.

PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: run test test-fast notebooks lint venv clean-venv

$(STAMP): requirements.txt pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt
	$(BIN)/python -m pip install --quiet --no-deps -e .
	@touch $@

venv: $(STAMP)

# Override any notebook parameter: make run MAX_STEPS=8000 RUN=long
# Plan the run by minutes instead of steps: make run MINUTES=30 RUN=half-hour
# Train on your own UTF-8 text instead of WikiText-2: make run TEXT=path/to/file.txt RUN=mine
# (TEXT is quoted for the shell, so a path may hold spaces: make run TEXT="my notes.txt")
RUN_ARGS = $(if $(RUN),--name $(RUN)) $(if $(MAX_STEPS),-p max_steps $(MAX_STEPS)) \
	$(if $(MINUTES),-p time_budget $(MINUTES)) \
	$(if $(TEXT),-p text_file '$(subst ','\'',$(TEXT))') $(ARGS)
run: $(STAMP)
	$(BIN)/python -m helpers.runs main $(RUN_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .

# The whole suite (about 15 minutes on 2 cores): every test, then every notebook under nbval.
test: lint
	$(BIN)/python -m pytest tests
	$(BIN)/python -m pytest --nbval notebooks

# The helpers' unit tests on a tiny committed text: no dataset, papermill, subprocesses or
# second environment; under a minute on 2 cores.
test-fast: $(STAMP)
	$(BIN)/python -m pytest tests -m "not slow and not system" -q

# Each notebook's .py (its Jupytext pair, the text to edit) executed into its .ipynb, in
# lesson order: 04 trains the model that 05, 06 and 07 read.
NOTEBOOK_SOURCES = $(sort $(wildcard notebooks/[0-9][0-9]_*.py))
notebooks: $(STAMP)
	@for source in $(NOTEBOOK_SOURCES); do \
	  echo "executing $$source"; \
	  $(BIN)/jupytext --to ipynb --update $$source || exit 1; \
	  $(BIN)/jupytext --set-kernel python3 --execute $${source%.py}.ipynb || exit 1; \
	done

clean-venv:
	rm -rf $(VENV)
