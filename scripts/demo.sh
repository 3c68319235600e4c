#!/usr/bin/env bash
# The main job, headless: segment the real Sen1Floods11 chip (raw Sentinel-2 L1C + Sentinel-1 dB,
# EPSG:4326) with the embedded default model, then score the map against the chip's hand label.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DATA="${UPSEG_DATA_ROOT:-$ROOT/../shared/data}/sen1floods11_sample"
OUT="$ROOT/out/demo"
QP="$ROOT/scripts/qgis-process"
# Reading the shared sample must not leave .aux.xml statistics files beside it.
export GDAL_PAM_ENABLED=NO

[ -f "$DATA/Spain_7370579_S2Hand.tif" ] || { echo "demo: sample data not found in $DATA" >&2; exit 1; }
rm -rf "$OUT" && mkdir -p "$OUT"

echo "== upseg:segment (embedded default model) =="
"$QP" run upseg:segment -- \
  OPTICAL="$DATA/Spain_7370579_S2Hand.tif" SAR="$DATA/Spain_7370579_S1Hand.tif" \
  OUTPUT="$OUT/water.tif" OUTPUT_CONFIDENCE="$OUT/confidence.tif" 2>/dev/null

echo "== upseg:evaluate against the hand label (-1 = unlabelled) =="
"$QP" --json run upseg:evaluate -- \
  PREDICTION="$OUT/water.tif" REFERENCE="$DATA/Spain_7370579_LabelHand.tif" IGNORE_VALUE=-1 \
  OUTPUT="$OUT/confusion.csv" OUTPUT_HTML="$OUT/accuracy.html" 2>/dev/null >"$OUT/evaluate.json"
python3 - "$OUT/evaluate.json" <<'PY'
import json, sys
text = open(sys.argv[1]).read()
res = json.loads(text[text.index("{"):])["results"]
m = json.loads(res["METRICS_JSON"])
print(f"pixels {res['EVALUATED_PIXELS']}, OA {res['OA']:.3f}, mIoU {res['MIOU']:.3f}, "
      f"Kappa {res['KAPPA']:.3f}")
for name, iou in zip(m["class_names"], m["iou"]):
    print(f"IoU {name}: {iou:.3f}")
PY

echo
echo "== zero-parameter baselines on the same chip, from its own bands (the bar the model must clear) =="
"$ROOT/.venv/bin/python" -m model_export.evaluation.chip_baselines --data-root "$(dirname "$DATA")"

echo
echo "Styled water map: $OUT/water.tif (style: $OUT/water.qml), confidence: $OUT/confidence.tif"
echo "Accuracy report:  $OUT/accuracy.html"
