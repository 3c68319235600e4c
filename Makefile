# UPSeg-QGIS: every developer and CI task. `make help` lists them.
SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.deps-installed
QGIS_PROCESS := scripts/qgis-process
DATA := $(abspath ../shared/data)
S1F := $(DATA)/sen1floods11_sample
OUT := out

# Offscreen Qt and a project-local QGIS profile: tests never touch the user's own profile.
TEST_ENV := QT_QPA_PLATFORM=offscreen XDG_DATA_HOME=$(CURDIR)/.qgis-test-profile \
	UPSEG_QGIS_PROFILE=$(CURDIR)/.qgis-test-profile GDAL_PAM_ENABLED=NO

.PHONY: help setup system test test-fast lint format demo qgis-process model bench ablation \
	package gui-check clean

help: ## this list
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-13s %s\n", $$1, $$2}'

setup: system $(STAMP) ## install QGIS/GDAL from Debian and the pinned Python packages (idempotent)

system:
	@scripts/setup-system.sh

$(STAMP): requirements/plugin.txt requirements/dev.txt | system
	@test -x $(PY) || /usr/bin/python3 -m venv --system-site-packages $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements/dev.txt
	@touch $@

test: setup ## the whole test suite (pytest + pytest-qgis, offscreen)
	$(TEST_ENV) $(PY) -m pytest -q -p no:cacheprovider tests

lint: setup ## ruff
	$(PY) -m ruff check upseg_qgis model_export tests scripts bench

format: setup
	$(PY) -m ruff check --fix upseg_qgis model_export tests scripts bench

qgis-process: setup ## qgis_process against the checkout: make qgis-process ARGS="list"
	$(QGIS_PROCESS) $(ARGS)

demo: setup ## segment the real Sen1Floods11 chip with the embedded model, headless
	@mkdir -p $(OUT)
	$(QGIS_PROCESS) run upseg:segment -- \
		OPTICAL=$(S1F)/Spain_7370579_S2Hand.tif SAR=$(S1F)/Spain_7370579_S1Hand.tif \
		OUTPUT=$(CURDIR)/$(OUT)/demo_water.tif OUTPUT_CONFIDENCE=$(CURDIR)/$(OUT)/demo_confidence.tif
	@echo "styled map: $(OUT)/demo_water.tif (+ .qml); open it in QGIS"

MODEL_RUN := runs/default_model
DEFAULT_MODEL := upseg_qgis/models/upseg_default.onnx

$(MODEL_RUN)/best.pt:
	$(PY) -m model_export train --config model_export/configs/ombria_upseg_tiny.yaml \
		--output-dir $(MODEL_RUN) --threads 2 --no-progress

model: setup $(MODEL_RUN)/best.pt ## train UPSeg-tiny on OMBRIA, evaluate, export + card into the plugin
	$(PY) -m model_export.export.default_model --run $(MODEL_RUN) --output $(DEFAULT_MODEL)

clean:
	rm -rf $(OUT) build dist .qgis-test-profile .pytest_cache .ruff_cache
