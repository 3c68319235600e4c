"""The help text of `upseg:segment`, with the defaults quoted from the code that applies them.

Each paragraph goes through the translator on its own; numbers and names are filled in after
translation, so a translation cannot state a default the code does not use.
"""

from __future__ import annotations

from collections.abc import Callable

from ..core.run.defaults import (
    DEFAULT_BATCH_SIZE,
    DEFAULT_CPU_BATCH_SIZE,
    DEFAULT_CPU_TILE_SIZE,
    MEASURED_PARALLEL_RUNS,
)

_INTRO = """<p>Segments an optical layer and a SAR layer together with an UPSeg model \
(ONNX Runtime) into a class raster (land cover, or water / not water for the embedded model), \
styled with the model's class names and colours.</p>
<p><b>The model decides the inputs.</b> Which bands in which order, their units, the \
conversion from your units to the model's, clipping and mean/std normalisation, the classes and \
the default tiling all come from the metadata stored in the model file. The plugin applies \
exactly that; where it has to assume something (band order, units), the log says what it \
assumed, and where more than one reading is possible it stops and asks.</p>
<h3>Parameters</h3>
<dl>"""

_MAIN = """<dt>Optical layer (OPTICAL)</dt><dd>e.g. Sentinel-2 (raw reflectance x 10000; a \
13-band file is fine), an 8-bit true-colour rendering, Gaofen. Its pixel grid is the output \
grid.</dd>
<dt>SAR layer (SAR)</dt><dd>e.g. Sentinel-1 VV/VH in dB or linear power, GF-3. Any CRS, \
resolution, extent and data type: it is resampled onto the optical grid on the fly (bilinear, or \
average when its pixels are much finer; SAR in dB is resampled in linear power), never copied as \
a whole. Where it does not cover the optical layer the output is nodata; when the layers do not \
overlap at all, the algorithm stops with an error.</dd>
<dt>Model (MODEL)</dt><dd>An .onnx file exported by <code>python -m model_export export</code>, \
or the id of a model in a catalogue (e.g. <code>upseg-tiny-ombria-water</code>; the drop-down \
under MODEL lists them): it is downloaded into your models folder on first use and its SHA-256 \
checked (<code>upseg:download_model</code> does it ahead of time; <code>upseg:model_info</code> \
shows what it expects). Empty: the embedded default model (water / not water from Sentinel-1 + \
Sentinel-2, trained on OMBRIA). The box at the top of this help describes the selected model.</dd>
<dt>Classes (OUTPUT)</dt><dd>GeoTIFF (tiled, DEFLATE), uint8 class values, nodata where either \
input is missing (nodata value, NaN, mask or alpha band), with a colour table and category names \
inside and a .qml style beside it.</dd>
<dt>Confidence (OUTPUT_CONFIDENCE)</dt><dd>Optional GeoTIFF, float32: the probability of the \
chosen class (softmax of the blended logits divided by the temperature the model was calibrated \
with on validation data, so 0.8 means right about 80 % of the time there); -1 where there is no \
data.</dd>
<dt>Extent (EXTENT)</dt><dd>Process only this part of the optical layer (in any CRS; snapped \
outward to the optical pixels). Empty: the whole optical layer.</dd>
<dt>Optical bands, in the model's order (OPTICAL_BANDS)</dt><dd>Band numbers feeding the \
model's optical bands, in its order. Empty: the bands whose names (descriptions, BANDNAME or \
POLARISATION metadata, colour interpretation) match the model's band names, e.g. B4, B3, B2 out \
of a 13-band Sentinel-2 file. Bands without names are taken in file order only when the layer \
has exactly the model's band count, with a warning naming that order; any other case stops and \
asks for this parameter.</dd>
<dt>SAR bands, in the model's order (SAR_BANDS)</dt><dd>The same for the SAR layer (e.g. VV out \
of a VV/VH file).</dd>"""

_ADVANCED = """</dl><h3>Advanced parameters</h3><dl>
<dt>Optical units (OPTICAL_UNITS)</dt><dd>auto detects the units from the data type and \
percentiles of the values, among the units the model accepts (8-bit data: uint8_rendering; \
integers in the thousands: reflectance_x10000; fractions: reflectance). Sentinel-2 products from \
processing baseline 04.00 (2022) store reflectance x 10000 + 1000: auto removes that offset when \
the file's metadata states it (BOA_ADD_OFFSET, RADIO_ADD_OFFSET, PROCESSING_BASELINE, or the \
band's offset); otherwise choose reflectance_x10000_offset1000. Units the model does not accept \
are refused.</dd>
<dt>SAR units (SAR_UNITS)</dt><dd>The same for the SAR layer (mostly negative floats: sar_db; \
small positive floats: sar_linear).</dd>
<dt>Tile size in pixels (TILE_SIZE)</dt><dd>Empty: {tile}. Lower it when memory runs \
short.</dd>
<dt>Tile overlap in pixels (OVERLAP)</dt><dd>Empty: the model's own value. Overlapping tiles' \
logits are blended with weights that fall towards each tile's edge, so there are no seams. Less \
than half the tile.</dd>
<dt>Tiles per batch (BATCH_SIZE)</dt><dd>Empty: the model's own value if it states one, else \
{cpu_batch} on the CPU and {gpu_batch} on a GPU. On the CPU up to {runs} batches run at once \
(split over Processing's "max threads" setting). Raise it on a GPU with memory to spare.</dd>
<dt>Device (DEVICE)</dt><dd>auto: CUDA when onnxruntime-gpu can use it, else the CPU. cuda, \
tensorrt: ask for that GPU provider (TensorRT builds its engines on the first run, then caches \
them). cpu: the CPU only. A GPU that cannot run falls back to the CPU with one warning that says \
why (e.g. which CUDA library is missing); the provider that actually ran is logged and returned \
as PROVIDER.</dd>
<dt>Fail instead of falling back to the CPU when the device cannot run (STRICT_DEVICE)</dt><dd>\
Stop with an error rather than run on the CPU.</dd>
<dt>Test-time augmentation (TTA)</dt><dd>Off by default. On: every tile also runs flipped \
left-right, up-down and both, and the four predictions are averaged (logits): 4x the model time, \
a slightly smoother map at best. On the default model's grouped validation it changed water IoU \
by less than 0.1 points (docs/validation.md).</dd>
</dl>"""

_OUTRO = """<p>Outputs also include PROVIDER (the ONNX Runtime execution provider that ran) and \
TILE_COUNT. The log lists the bands and units used, the tile count, the time per stage and the \
throughput. A layer that, once converted to the model's units, lies far outside what the model \
was trained on gets a warning that names the band and the setting to check (e.g. "The SAR \
values look unlike the training data: check SAR_UNITS"); the run goes on. Cancelling stops \
within about a second and removes the partial output. The class \
raster, its style and the confidence raster are saved together or not at all: an error never \
leaves a half-written result, and files left by an interrupted run are removed by the next run \
to the same output.</p>"""


def help_text(tr: Callable[[str], str]) -> str:
    """The help HTML, each part translated with `tr`, the defaults filled in from the code."""
    tile = tr("the model's own value")
    if DEFAULT_CPU_TILE_SIZE:
        tile += tr(", at least {size} on the CPU").format(size=DEFAULT_CPU_TILE_SIZE)
    advanced = tr(_ADVANCED).format(tile=tile, cpu_batch=DEFAULT_CPU_BATCH_SIZE,
                                    gpu_batch=DEFAULT_BATCH_SIZE, runs=MEASURED_PARALLEL_RUNS)
    return tr(_INTRO) + tr(_MAIN) + advanced + tr(_OUTRO)
