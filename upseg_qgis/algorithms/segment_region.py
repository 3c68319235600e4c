"""`upseg:segment_region`: many optical + SAR scenes (layers or folders) -> one styled mosaic.

A thin layer over `upseg_qgis.core.region.run.segment_region`, the code the command line and
Dask clusters run: the job is cut into windows recorded beside the output, so running the
algorithm again with the same parameters after a cancel or a crash finishes only what is
missing. It runs in this QGIS process; the log shows the command that hands the same job to
a Dask cluster.
"""

from __future__ import annotations

import shlex
from typing import Any

from qgis.core import (
    QgsApplication,
    QgsCoordinateReferenceSystem,
    QgsProcessingContext,
    QgsProcessingException,
    QgsProcessingFeedback,
    QgsProcessingOutputNumber,
    QgsProcessingParameterBoolean,
    QgsProcessingParameterCrs,
    QgsProcessingParameterExtent,
    QgsProcessingParameterFile,
    QgsProcessingParameterMultipleLayers,
    QgsProcessingParameterNumber,
    QgsProcessingParameterRasterDestination,
    QgsProcessingParameterString,
    QgsRasterLayer,
)

from ..plugin import qt_compat as qt
from ..plugin.layer_source import gdal_source
from . import segment_parameters as shared
from .base import UPSegAlgorithm


class SegmentRegionAlgorithm(UPSegAlgorithm):
    OPTICAL = "OPTICAL"
    OPTICAL_FOLDER = "OPTICAL_FOLDER"
    SAR = "SAR"
    SAR_FOLDER = "SAR_FOLDER"
    MODEL = "MODEL"
    OUTPUT_CRS = "OUTPUT_CRS"
    RESOLUTION = "RESOLUTION"
    EXTENT = "EXTENT"
    OPTICAL_BANDS = "OPTICAL_BANDS"
    SAR_BANDS = "SAR_BANDS"
    OPTICAL_UNITS = shared.OPTICAL_UNITS
    SAR_UNITS = shared.SAR_UNITS
    TILE_SIZE = shared.TILE_SIZE
    OVERLAP = shared.OVERLAP
    BATCH_SIZE = shared.BATCH_SIZE
    WINDOW_SIZE = "WINDOW_SIZE"
    DEVICE = shared.DEVICE
    RESTART = "RESTART"
    OUTPUT = "OUTPUT"
    OUTPUT_CONFIDENCE = "OUTPUT_CONFIDENCE"
    WINDOWS = "WINDOWS"
    WINDOWS_RUN = "WINDOWS_RUN"
    HELP_ANCHOR = "upseg-segment-region"

    def name(self) -> str:
        return "segment_region"

    def displayName(self) -> str:
        return self.tr("Segment a region of many scenes (UPSeg)")

    def tags(self) -> list[str]:
        return self.tr("segmentation,mosaic,region,scenes,batch,resume,dask,upseg").split(",")

    def shortHelpString(self) -> str:
        return self.tr(HELP_TEXT)

    def initAlgorithm(self, config: dict[str, Any] | None = None) -> None:
        tr = self.tr
        for layers, folder, role in ((self.OPTICAL, self.OPTICAL_FOLDER, "Optical"),
                                     (self.SAR, self.SAR_FOLDER, "SAR")):
            self.addParameter(QgsProcessingParameterMultipleLayers(
                layers, tr("{role} scenes (layers or files)").format(role=tr(role)),
                qt.SOURCE_RASTER, None, True))
            self.addParameter(QgsProcessingParameterFile(
                folder, tr("{role} scenes: every raster in this folder").format(role=tr(role)),
                qt.FILE_BEHAVIOR_FOLDER, "", None, True))
        self.addParameter(QgsProcessingParameterFile(
            self.MODEL, tr("Model (ONNX exported by model_export; empty: the embedded default "
                           "model)"), qt.FILE_BEHAVIOR_FILE, "", None, True,
            "ONNX models (*.onnx)"))
        self.addParameter(QgsProcessingParameterCrs(
            self.OUTPUT_CRS, tr("Output CRS (empty: the optical scenes')"), None, True))
        self.addParameter(QgsProcessingParameterNumber(
            self.RESOLUTION, tr("Output pixel size in CRS units (empty: the optical scenes')"),
            qt.NUMBER_DOUBLE, None, True, 0.0))
        self.addParameter(QgsProcessingParameterExtent(
            self.EXTENT, tr("Extent (empty: all optical scenes)"), None, True))
        advanced = [
            QgsProcessingParameterString(self.OPTICAL_BANDS, tr(
                "Optical band numbers in the model's order, e.g. 4,3,2 (empty: from the "
                "model's metadata)"), None, False, True),
            QgsProcessingParameterString(self.SAR_BANDS, tr(
                "SAR band numbers in the model's order (empty: from the model's metadata)"),
                None, False, True),
            *shared.unit_parameters(tr),
            *shared.tiling_parameters(tr, tr("Tiles per batch (empty: from the model)")),
            QgsProcessingParameterNumber(self.WINDOW_SIZE, tr("Window size in output pixels"),
                                         qt.NUMBER_INTEGER, 4096, False, 16, 65536),
            shared.device_parameter(tr),
            QgsProcessingParameterBoolean(self.RESTART, tr(
                "Start over (discard windows finished by an earlier run)"), False),
        ]
        for p in advanced:
            self.addParameter(qt.advanced(p))
        self.addParameter(QgsProcessingParameterRasterDestination(self.OUTPUT, tr("Classes")))
        self.addParameter(QgsProcessingParameterRasterDestination(
            self.OUTPUT_CONFIDENCE, tr("Confidence (max class probability)"), None, True, False))
        self.addOutput(QgsProcessingOutputNumber(self.WINDOWS, tr("Windows in the job")))
        self.addOutput(QgsProcessingOutputNumber(self.WINDOWS_RUN, tr("Windows run now")))

    def processAlgorithm(
        self,
        parameters: dict[str, Any],
        context: QgsProcessingContext,
        feedback: QgsProcessingFeedback,
    ) -> dict[str, Any]:
        self.require_runtime()
        # Imported here: the provider must load (and show this help) without onnxruntime.
        from ..core.region.grid import GridRequest
        from ..core.region.inputs import expand_inputs
        from ..core.region.run import REGION_ERRORS, segment_region
        from ..core.run.reporting import CancelledError, Reporter

        optical = self._scenes(parameters, self.OPTICAL, self.OPTICAL_FOLDER, context, "optical")
        sar = self._scenes(parameters, self.SAR, self.SAR_FOLDER, context, "SAR")
        crs = self.parameterAsCrs(parameters, self.OUTPUT_CRS, context)
        try:
            first = expand_inputs(optical, "optical")[0]
        except REGION_ERRORS as exc:
            raise QgsProcessingException(str(exc)) from None
        grid = GridRequest(
            crs=(crs.authid() or crs.toWkt()) if crs.isValid() else None,
            resolution=self._resolution(parameters, context),
            extent=self._extent(parameters, context, crs if crs.isValid() else None, first),
        )
        output = self.parameterAsOutputLayer(parameters, self.OUTPUT, context)
        confidence = None
        if parameters.get(self.OUTPUT_CONFIDENCE) not in (None, ""):
            confidence = self.parameterAsOutputLayer(parameters, self.OUTPUT_CONFIDENCE, context)
        inputs, tiling, runtime, region = self._options(parameters, context)
        model = self.parameterAsFile(parameters, self.MODEL, context) or None
        feedback.pushInfo(self.tr("The same job on a Dask cluster (inputs and output on "
                                  "storage the workers share):"))
        feedback.pushCommandInfo(cluster_command(optical, sar, output, confidence, grid, model,
                                                 inputs, tiling, runtime, region))
        try:
            result = segment_region(
                optical, sar, output, model=model, confidence=confidence, inputs=inputs,
                tiling=tiling, runtime=runtime, grid=grid, region=region,
                report=Reporter(progress=lambda f, _m: feedback.setProgress(100.0 * f),
                                is_cancelled=feedback.isCanceled, info=feedback.pushInfo,
                                warn=feedback.pushWarning))
        except REGION_ERRORS as exc:
            raise QgsProcessingException(str(exc)) from None
        except CancelledError:
            raise QgsProcessingException(self.tr(
                "Cancelled. The finished windows are kept: run the algorithm again with the "
                "same parameters to finish only the rest.")) from None
        except MemoryError:
            raise QgsProcessingException(self.tr(
                "Out of memory. Lower WINDOW_SIZE, TILE_SIZE or BATCH_SIZE. The finished "
                "windows are kept.")) from None
        except Exception as exc:  # noqa: BLE001 - a bug: say so, with what happened
            raise QgsProcessingException(self.tr(
                "UPSeg region segmentation failed unexpectedly ({kind}: {error}). The finished "
                "windows are kept. Please report this with the log.").format(
                    kind=type(exc).__name__, error=exc)) from None
        return {self.OUTPUT: result.output, self.OUTPUT_CONFIDENCE: result.confidence,
                self.WINDOWS: result.windows, self.WINDOWS_RUN: result.ran}

    def _options(self, parameters: dict[str, Any], context: QgsProcessingContext
                 ) -> tuple[Any, Any, Any, Any]:
        from ..core.region.options import RegionOptions
        from ..core.run.options import InputOptions, RuntimeOptions

        threads = QgsApplication.maxThreads()  # Processing's "max threads" setting, -1 = all
        optical_units, sar_units = shared.units(self, parameters, context)
        return (
            InputOptions(
                optical_bands=self._bands(parameters, self.OPTICAL_BANDS, context),
                sar_bands=self._bands(parameters, self.SAR_BANDS, context),
                optical_units=optical_units, sar_units=sar_units),
            shared.tiling_options(self, parameters, context),
            RuntimeOptions(device=shared.device(self, parameters, context),
                           threads=threads if threads > 0 else None),
            RegionOptions(window_size=self.parameterAsInt(parameters, self.WINDOW_SIZE, context),
                          overwrite=True,  # Processing replaces its outputs
                          restart=self.parameterAsBoolean(parameters, self.RESTART, context)),
        )

    def _scenes(self, parameters: dict[str, Any], layers: str, folder: str,
                context: QgsProcessingContext, role: str) -> list[str]:
        paths = []
        for layer in self.parameterAsLayerList(parameters, layers, context):
            paths.append(gdal_source(layer, what=role))
        path = self.parameterAsFile(parameters, folder, context)
        if path:
            paths.append(path)
        if not paths:
            raise QgsProcessingException(self.tr(
                "No {role} scenes: choose {role} layers or files, or a folder of them.").format(
                    role=role))
        return paths

    def _extent(self, parameters: dict[str, Any], context: QgsProcessingContext,
                crs: QgsCoordinateReferenceSystem | None, first: str
                ) -> tuple[float, float, float, float] | None:
        if parameters.get(self.EXTENT) in (None, ""):
            return None
        target = crs or QgsRasterLayer(first, "first optical scene").crs()
        rect = self.parameterAsExtent(parameters, self.EXTENT, context, target)
        if rect.isNull() or rect.isEmpty():
            return None
        return (rect.xMinimum(), rect.yMinimum(), rect.xMaximum(), rect.yMaximum())

    def _bands(self, parameters: dict[str, Any], name: str, context: QgsProcessingContext
               ) -> list[int] | None:
        text = self.parameterAsString(parameters, name, context).strip()
        if not text:
            return None
        try:
            return [int(b) for b in text.replace(",", " ").split()]
        except ValueError:
            raise QgsProcessingException(self.tr(
                "{name} must be band numbers like 4,3,2, not '{text}'.").format(
                    name=name, text=text)) from None

    def _resolution(self, parameters: dict[str, Any], context: QgsProcessingContext
                    ) -> float | None:
        # Not set, or not above 0: the optical scenes' pixel size.
        if parameters.get(self.RESOLUTION) in (None, ""):
            return None
        value = self.parameterAsDouble(parameters, self.RESOLUTION, context)
        return value if value > 0 else None


def cluster_command(optical: list[str], sar: list[str], output: str, confidence: str | None,
                    grid: Any, model: str | None, inputs: Any, tiling: Any, runtime: Any,
                    region: Any) -> str:
    """The command line that runs this job on a Dask cluster (same work folder, same result)."""
    args = ["python", "-m", "upseg_qgis.core.cli", "region", "--optical", *optical,
            "--sar", *sar, "--output", output]
    options: dict[str, Any] = {
        "confidence": confidence, "model": model, "crs": grid.crs,
        "resolution": grid.resolution, "extent": list(grid.extent) if grid.extent else None,
        "optical_bands": inputs.optical_bands, "sar_bands": inputs.sar_bands,
        "optical_units": inputs.optical_units, "sar_units": inputs.sar_units,
        "tile_size": tiling.tile_size, "overlap": tiling.overlap,
        "batch_size": tiling.batch_size, "device": runtime.device,
        "window_size": region.window_size,
    }
    for key, value in options.items():
        if value in (None, "", "auto"):
            continue
        args.append("--" + key.replace("_", "-"))
        if key == "extent":
            args += [repr(v) for v in value]
        else:
            args.append(",".join(map(str, value)) if isinstance(value, list) else str(value))
    args += ["--scheduler", "tcp://SCHEDULER-HOST:8786"]
    return " ".join(shlex.quote(a) for a in args)


HELP_TEXT = """<p>Segments a whole region: many optical and SAR scenes (layers, files, or every \
raster in a folder; VRT mosaics too) into one class raster on one grid, with the same model, \
bands, units, tiling and blending as <b>Segment optical + SAR</b>, and the same colour table, \
class names and .qml.</p>
<p><b>Windows and resuming.</b> The output grid is cut into windows (WINDOW_SIZE pixels \
square), aligned to the tile grid so that the result does not depend on the window size. \
Finished windows are recorded in a folder beside the output (<i>output</i>.region). After a \
cancel, a crash or a power cut, run the algorithm again with the same parameters: only the \
missing windows are computed. The final raster is written only when every window has \
succeeded; a window that keeps failing is named in the error.</p>
<h3>Parameters</h3>
<dl>
<dt>Optical scenes / SAR scenes</dt><dd>Layers or files, and/or a folder whose rasters are \
all taken. Scenes of one role must have the same bands and data type. Where scenes overlap, \
the later one wins. SAR scenes may be in any CRS and resolution: they are aligned on the fly.\
</dd>
<dt>Output CRS, pixel size, extent</dt><dd>Empty: the optical scenes' grid (all of it). An \
extent alone keeps the optical pixels; a new CRS or pixel size warps the optical scenes onto a \
grid aligned to multiples of the pixel size.</dd>
<dt>Model, bands, units, tiling, device</dt><dd>As in Segment optical + SAR; bands and units \
are decided once for the whole region. SAR scenes in different units (dB and linear) \
stop with an error that names them, unless SAR units are set.</dd>
<dt>Window size</dt><dd>Output pixels per window side (default 4096). Each window also \
computes the tiles overlapping its border (a few percent extra for large windows).</dd>
<dt>Start over</dt><dd>Discard the windows finished by an earlier run. The earlier \
output stays usable until the new one is written.</dd>
<dt>Classes</dt><dd>.tif: one Cloud-Optimised GeoTIFF with overviews. .vrt: a VRT over the \
tiles, which stay in the .region folder (for outputs too large to rewrite as one file).</dd>
</dl>
<p><b>On a cluster.</b> The log shows the command that runs the same job on a Dask cluster \
(<code>python -m upseg_qgis.core.cli region ... --scheduler tcp://host:8786</code>); the \
inputs and the output folder must be on storage every worker sees. See the user guide.</p>"""
