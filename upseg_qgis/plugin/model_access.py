"""Models for the algorithms: MODEL values and catalogue ids resolved with the user's settings,
QGIS's network stack and the Processing feedback (progress, cancel, log). Errors become
QgsProcessingException with the core's message, which says what to do.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from qgis.core import QgsProcessingException, QgsProcessingFeedback, QgsProcessingParameterFile

from ..core.models.catalogue import CatalogueError
from ..core.models.download import DownloadCancelledError, DownloadError
from ..core.models.resolve import ModelNotFoundError, ResolvedModel, resolve_model
from ..core.models.store import CatalogueSet, StoreConfig, load_catalogues
from . import qt_compat as qt
from .model_settings import store_config
from .network import QgisTransport

MIB = 1 << 20
# The file filter of MODEL parameters: .onnx first in the browser, and "(*)" so that a
# catalogue id (no extension) is an acceptable value too.
MODEL_FILE_FILTER = "ONNX models (*.onnx);;All files (*)"


def model_parameter(name: str, tr: Callable[[str], str]) -> QgsProcessingParameterFile:
    """The optional MODEL parameter: an .onnx file, a catalogue id, or empty for the default."""
    return QgsProcessingParameterFile(
        name, tr("Model (an .onnx file or a catalogue model id; empty: the embedded default "
                 "model)"), qt.FILE_BEHAVIOR_FILE, "", None, True, MODEL_FILE_FILTER)


def split_catalogues(text: str | None) -> list[str]:
    """A CATALOGUE parameter: one or more files/URLs separated by ';'."""
    return [p.strip() for p in (text or "").split(";") if p.strip()]


def _progress(feedback: QgsProcessingFeedback, what: str):  # noqa: ANN202 - a callback
    def report(fraction: float) -> None:
        feedback.setProgress(100.0 * fraction)
        feedback.setProgressText(f"{what}: {100.0 * fraction:.0f} %")
    return report


def resolve_parameter(
    value: str | None,
    feedback: QgsProcessingFeedback,
    catalogues: Sequence[str] = (),
    config: StoreConfig | None = None,
) -> ResolvedModel:
    """MODEL -> a model file, downloading a catalogue model on first use if allowed."""
    config = config or store_config()
    try:
        resolved = resolve_model(
            value, config, QgisTransport(feedback), catalogues,
            progress=_progress(feedback, "Downloading the model"),
            is_cancelled=feedback.isCanceled, info=feedback.pushInfo,
            warn=feedback.pushWarning,
        )
    except DownloadCancelledError as exc:
        raise QgsProcessingException(str(exc)) from None
    except (ModelNotFoundError, DownloadError, CatalogueError, OSError) as exc:
        raise QgsProcessingException(str(exc)) from None
    if resolved.entry is not None:
        feedback.pushInfo(f"Model: {resolved.note}")
    return resolved


def catalogues_for(
    feedback: QgsProcessingFeedback | None, extra: Sequence[str] = (), refresh: bool = False,
    config: StoreConfig | None = None,
) -> CatalogueSet:
    """The catalogues in use (the plugin's own last); problems are logged as warnings."""
    config = config or store_config()
    warn = feedback.pushWarning if feedback is not None else (lambda _m: None)
    cats = load_catalogues(config, extra, QgisTransport(feedback), refresh=refresh, warn=warn)
    for problem in cats.problems:
        warn(problem)
    return cats
