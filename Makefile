# Two commands on a fresh machine: `make run` (the main job) and `make test`.
# Both create .venv on first use from the pins in requirements.txt, and reuse it until the
# pins change. Nothing is installed or registered outside this folder.

PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: run test lint venv clean-venv

$(STAMP): requirements.txt pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt
	$(BIN)/python -m pip install --quiet --no-deps -e .
	@touch $@

venv: $(STAMP)

# Override any notebook parameter: make run MAX_STEPS=3000 RUN=long
RUN_ARGS = $(if $(RUN),--name $(RUN)) $(if $(MAX_STEPS),-p max_steps $(MAX_STEPS)) $(ARGS)
run: $(STAMP)
	$(BIN)/python -m helpers.runs main $(RUN_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .

test: lint
	$(BIN)/python -m pytest tests
	$(BIN)/python -m pytest --nbval notebooks

clean-venv:
	rm -rf $(VENV)
