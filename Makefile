# UPSeg-QGIS: every developer and CI task. `make help` lists them.
SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV := .venv
PY := $(VENV)/bin/python
# The training side (torch): auto = on for Debian 12, off elsewhere (see scripts/setup-venv.sh).
TRAINING ?= auto
# The QGIS of `make test-qgis`: 3.44 or 3.40 (Debian roots, scripts/qgis-root.sh).
QGIS ?= 3.44
QGIS_PROCESS := scripts/qgis-process
DATA := $(abspath ../shared/data)
S1F := $(DATA)/sen1floods11_sample
OUT := out

.PHONY: help setup system venv test test-qgis lint format demo qgis-process model bench ablation package \
	gui-check clean

help: ## this list
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-13s %s\n", $$1, $$2}'

setup: system venv ## install QGIS/GDAL from Debian and the pinned Python packages (idempotent; TRAINING=1 adds torch)

system:
	@scripts/setup-system.sh

venv: system
	@scripts/setup-venv.sh $(VENV) requirements/dev.txt $(TRAINING)

test: setup ## the whole test suite (pytest + pytest-qgis, offscreen)
	scripts/run-tests.sh tests

test-qgis: ## the tests that need no torch, in QGIS from Debian: make test-qgis QGIS=3.44 (or 3.40)
	scripts/qgis-root.sh $(QGIS) scripts/test-in-root.sh

lint: setup ## ruff
	$(PY) -m ruff check upseg_qgis model_export tests scripts bench

format: setup
	$(PY) -m ruff check --fix upseg_qgis model_export tests scripts bench

qgis-process: setup ## qgis_process against the checkout: make qgis-process ARGS="list"
	$(QGIS_PROCESS) $(ARGS)

demo: setup ## segment a real Sentinel-1 + Sentinel-2 chip headless with the embedded model, and score it
	scripts/demo.sh

ablation: setup ## UPSeg vs baselines and ablations on OMBRIA, 3 seeds -> docs/ablation.md (long)
	$(PY) -m model_export ablation --config model_export/configs/ablation_ombria.yaml

bench: setup ## speed vs the raw ONNX Runtime limit, memory vs scene size -> bench/results.json, docs/benchmark.md (long)
	$(PY) -m bench.run_bench

package: setup ## the plugin ZIP for "Install from ZIP" -> dist/
	$(PY) scripts/package.py --require-model

gui-check: setup ## QGIS desktop under Xvfb: plugin from the ZIP, dialog and result screenshots -> docs/img/
	$(PY) scripts/gui_check.py

clean:
	rm -rf $(OUT) build dist .qgis-test-profile .pytest_cache .ruff_cache
