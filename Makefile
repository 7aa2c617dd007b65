# Two commands on a fresh machine: `make demo` (set up, prepare Multi30k, train, translate, BLEU)
# and `make test` (set up, run the test suite). Both create .venv and install when needed.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
SHARED_DATA ?= ../shared/data
DATA := data/multi30k
export WANDB_MODE ?= offline

.PHONY: install demo test test-all lint format system-packages clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

# Multi30k En-De: copied from $(SHARED_DATA) when it is there, else downloaded.
$(DATA)/spm.model: | $(STAMP)
	$(BIN)/s2s prepare multi30k --src en --tgt de --out $(DATA) \
		$(if $(wildcard $(SHARED_DATA)/multi30k),--from $(SHARED_DATA)/multi30k)

demo: $(STAMP) $(DATA)/spm.model
	$(BIN)/s2s train experiment=demo hydra.run.dir=runs/demo test_after_training=false
	printf 'A man is riding a bicycle down the street.\nTwo dogs are playing in the snow.\n' \
		| $(BIN)/s2s translate runs/demo/model.pt
	$(BIN)/s2s evaluate runs/demo/model.pt --src $(DATA)/test.en --ref $(DATA)/test.de --beam 5

# Debian tools some tests use (espeak-ng, sox: speech; chromium, chromium-driver: the browser test of
# s2s app); installed when we may, skipped otherwise.
system-packages:
	@{ command -v espeak-ng && command -v chromium && command -v chromedriver; } >/dev/null 2>&1 \
		|| { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 \
		&& (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq espeak-ng sox chromium \
		chromium-driver >/dev/null) || true; }

# Idle OpenMP threads sleep instead of spinning: tests start many short 2-thread processes.
test test-all: export OMP_WAIT_POLICY = PASSIVE

test: $(STAMP) system-packages
	$(BIN)/python -m pytest -q

test-all: $(STAMP) system-packages
	$(BIN)/python -m pytest -q -m ''

# Lint and types: what CI checks before the tests (`make format` rewrites the files the formatter would change).
LINTED := s2s tests bench tools
lint: $(STAMP)
	$(BIN)/ruff check $(LINTED)
	$(BIN)/ruff format --check $(LINTED)
	$(BIN)/mypy

format: $(STAMP)
	$(BIN)/ruff check --fix $(LINTED)
	$(BIN)/ruff format $(LINTED)

clean:
	rm -rf runs outputs .pytest_cache
