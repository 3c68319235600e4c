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

# PyQt6 from PyPI in a throwaway venv: the names `make qt6-check` holds the plugin's code against.
PYQT6_VENV := .cache/pyqt6-venv
PYQT6_NAMES := $(CURDIR)/.cache/pyqt6-names.json
QT6_SCAN := upseg_qgis scripts tests

# Offscreen Qt and a project-local QGIS profile: tests never touch the user's own profile.
TEST_ENV := QT_QPA_PLATFORM=offscreen XDG_DATA_HOME=$(CURDIR)/.qgis-test-profile \
	UPSEG_QGIS_PROFILE=$(CURDIR)/.qgis-test-profile GDAL_PAM_ENABLED=NO \
	UPSEG_PYQT6_NAMES=$(PYQT6_NAMES)

.PHONY: help setup system venv test test-qgis qt6-check qt6-scan lint format demo qgis-process model cv \
	cost bench ablation package package-local gui-check clean

help: ## this list
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-13s %s\n", $$1, $$2}'

setup: system venv ## install QGIS/GDAL from Debian and the pinned Python packages (idempotent; TRAINING=1 adds torch)

system:
	@scripts/setup-system.sh

venv: system
	@scripts/setup-venv.sh $(VENV) requirements/dev.txt $(TRAINING)

test: setup qt6-check ## the whole test suite (Qt6 check, then pytest + pytest-qgis, offscreen)
	UPSEG_PYQT6_NAMES=$(PYQT6_NAMES) scripts/run-tests.sh tests

test-qgis: ## the tests that need no torch, in QGIS from Debian: make test-qgis QGIS=3.44 (or 3.40)
	scripts/qgis-root.sh $(QGIS) scripts/test-in-root.sh

qt6-check: setup qt6-scan ## fail on Qt5-only constructs and Qt names PyQt6 lacks (QGIS 4)

# The check itself, with whatever venv is there (make test-qgis runs it inside each QGIS root).
qt6-scan: $(PYQT6_NAMES)
	$(TEST_ENV) $(PY) scripts/qt6_check.py check --pyqt6 $(PYQT6_NAMES) $(QT6_SCAN)

$(PYQT6_NAMES): scripts/qt6_check.py
	@test -x $(PYQT6_VENV)/bin/python || /usr/bin/python3 -m venv $(PYQT6_VENV)
	$(PYQT6_VENV)/bin/python -m pip install --quiet --disable-pip-version-check PyQt6==6.11.0
	QT_QPA_PLATFORM=offscreen $(PYQT6_VENV)/bin/python scripts/qt6_check.py dump-pyqt6 $@

lint: setup ## ruff
	$(PY) -m ruff check upseg_qgis model_export tests scripts bench

format: setup
	$(PY) -m ruff check --fix upseg_qgis model_export tests scripts bench

qgis-process: setup ## qgis_process against the checkout: make qgis-process ARGS="list"
	$(QGIS_PROCESS) $(ARGS)

demo: setup ## segment a real Sentinel-1 + Sentinel-2 chip headless with the embedded model, and score it
	scripts/demo.sh

MODEL_RUN := runs/default_model
DEFAULT_MODEL := upseg_qgis/models/upseg_default.onnx

model: setup ## the default model end to end: grouped CV, training, calibration, export + card (hours; reuses finished runs)
	$(PY) -m model_export.recipes.default_model --run $(MODEL_RUN) --output $(DEFAULT_MODEL)

cv: setup ## grouped (spatial) cross-validation of the candidate recipes on OMBRIA -> docs/validation.md (hours)
	$(PY) -m model_export cv

ablation: setup ## UPSeg vs baselines and ablations on OMBRIA, 3 seeds -> docs/ablation.md (long)
	$(PY) -m model_export ablation --config model_export/configs/ablation_ombria.yaml

cost: setup ## CPU cost table, ConvNeXt tiny, DOFA, Galileo-nano (params, GMACs, s/Mpx fp32/int8, overhead) -> docs/benchmark_cost.md
	$(PY) -m bench.cost_table

bench: setup ## speed vs the raw ONNX Runtime limit, memory vs scene size, region jobs on 1/2 Dask workers, model vs previous and TTA cost, cost rows of the tiny and Galileo models -> bench/*.json, docs/benchmark*.md (long)
	$(PY) -m bench.run_bench
	$(PY) -m bench.region_bench
	$(PY) -m bench.model_compare
	$(PY) -m bench.cost_table --models upseg_tiny upseg_galileo_nano

package: setup ## the upload ZIP -> dist/ (refused while metadata.txt lacks a real email, repository, tracker, or catalogue.json has placeholder URLs)
	$(PY) scripts/package.py --require-model

package-local: setup ## a ZIP for local testing and "Install from ZIP" -> dist/*-local.zip (not for upload)
	$(PY) scripts/package.py --require-model --local

gui-check: setup ## QGIS desktop under Xvfb: plugin from the ZIP, dialog and result screenshots -> docs/img/
	$(PY) scripts/gui_check.py

clean:
	rm -rf $(OUT) build dist .cache .qgis-test-profile .pytest_cache .ruff_cache
