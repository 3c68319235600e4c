"""`upseg:download_model`: put a catalogue model into the models folder, verified.

From its URLs through QGIS's network stack (resumable, SHA-256 checked), or offline from a file
or folder the user already has (SOURCE). A thin layer over `core.models.store`.
"""

from __future__ import annotations

from html import escape
from pathlib import Path
from typing import Any

from qgis.core import (
    QgsProcessingContext,
    QgsProcessingException,
    QgsProcessingFeedback,
    QgsProcessingOutputFile,
    QgsProcessingOutputString,
    QgsProcessingParameterBoolean,
    QgsProcessingParameterFile,
    QgsProcessingParameterString,
)

from ..core.contract.metadata import MetadataError
from ..core.contract.onnx_props import OnnxFileError, read_model_metadata
from ..core.models.catalogue import CatalogueEntry, CatalogueError, all_entries, find_entry
from ..core.models.catalogue_tools import summary_differences
from ..core.models.download import DownloadCancelledError, DownloadError
from ..core.models.store import StoreConfig, fetch, find_local, installed_entries, offline_file
from ..plugin import qt_compat as qt
from ..plugin.model_access import catalogues_for, split_catalogues
from ..plugin.model_settings import store_config
from ..plugin.network import QgisTransport
from .base import UPSegAlgorithm

MIB = 1 << 20
CATALOGUE_FILTER = "Model catalogues (*.json);;All files (*)"


class DownloadModelAlgorithm(UPSegAlgorithm):
    HELP_ANCHOR = "upseg-download-model"
    GROUP = "Models"
    MODEL = "MODEL"
    CATALOGUE = "CATALOGUE"
    SOURCE = "SOURCE"
    FORCE = "FORCE"
    MODEL_FILE = "MODEL_FILE"
    MODEL_ID = "MODEL_ID"
    SHA256 = "SHA256"

    def name(self) -> str:
        return "download_model"

    def displayName(self) -> str:
        return self.tr("Download a model (catalogue)")

    def tags(self) -> list[str]:
        return self.tr("model,download,catalogue,zoo,offline,onnx,upseg").split(",")

    def shortHelpString(self) -> str:
        return self.tr(HELP_TEXT) + catalogue_listing_html()

    def initAlgorithm(self, config: dict[str, Any] | None = None) -> None:
        self.addParameter(QgsProcessingParameterString(
            self.MODEL, self.tr("Model id from a catalogue (id, or id@version)")))
        self.addParameter(QgsProcessingParameterFile(
            self.CATALOGUE, self.tr("Extra catalogue: a file or an http(s) URL (several: separate "
            "with ';')"), qt.FILE_BEHAVIOR_FILE, "", None, True,
            CATALOGUE_FILTER))
        self.addParameter(QgsProcessingParameterFile(
            self.SOURCE,
            self.tr("Offline: install from this file or folder instead of downloading"),
            qt.FILE_BEHAVIOR_FILE, "", None, True,
            "ONNX models (*.onnx);;All files (*)"))
        self.addParameter(qt.advanced(QgsProcessingParameterBoolean(
            self.FORCE, self.tr("Download again even when a verified copy is already here"),
            False)))
        self.addOutput(QgsProcessingOutputFile(self.MODEL_FILE, self.tr("Model file")))
        self.addOutput(QgsProcessingOutputString(self.MODEL_ID, self.tr("Model id@version")))
        self.addOutput(QgsProcessingOutputString(self.SHA256, self.tr("SHA-256 of the model file")))

    def processAlgorithm(
        self,
        parameters: dict[str, Any],
        context: QgsProcessingContext,
        feedback: QgsProcessingFeedback,
    ) -> dict[str, Any]:
        wanted = self.parameterAsString(parameters, self.MODEL, context).strip()
        extra = split_catalogues(self.parameterAsFile(parameters, self.CATALOGUE, context))
        source = self.parameterAsFile(parameters, self.SOURCE, context).strip()
        force = self.parameterAsBoolean(parameters, self.FORCE, context)
        config = store_config()
        try:
            entry = self._entry(wanted, extra, config, feedback)
            path = self._install(entry, config, source, force, feedback)
        except DownloadCancelledError as exc:
            raise QgsProcessingException(str(exc)) from None
        except (CatalogueError, DownloadError, OSError) as exc:
            raise QgsProcessingException(str(exc)) from None
        _check_summary(entry, path, feedback)
        return {self.MODEL_FILE: str(path), self.MODEL_ID: entry.key, self.SHA256: entry.sha256}

    def _entry(self, wanted: str, extra: list[str], config: StoreConfig,
               feedback: QgsProcessingFeedback) -> CatalogueEntry:
        if not wanted:
            raise QgsProcessingException("Give MODEL, a model id from a catalogue.")
        cats = catalogues_for(feedback, extra, refresh=True, config=config)
        entry = find_entry(cats.catalogues, wanted)
        if entry is None:
            installed = [e for e in installed_entries(config) if e.id == wanted.split("@")[0]]
            ids = sorted({e.id for e in all_entries(cats.catalogues)})
            raise QgsProcessingException(
                f"No catalogue lists the model '{wanted}'"
                + (" (an earlier copy is installed, but no catalogue to download it again)"
                   if installed else "")
                + f". Known ids: {', '.join(ids) or 'none'}. Add the catalogue that lists it "
                "(CATALOGUE, or the UPSeg settings)."
            )
        feedback.pushInfo(f"{entry.key}: {entry.name} ({entry.size / MIB:.1f} MiB) from "
                          f"{entry.source}")
        return entry

    def _install(self, entry: CatalogueEntry, config: StoreConfig, source: str, force: bool,
                 feedback: QgsProcessingFeedback) -> Path:
        if not force and not source:
            local = find_local(config, entry, feedback.pushWarning)
            if local is not None:
                where = "embedded in the plugin" if entry.embedded else "already here"
                feedback.pushInfo(f"Nothing to download: {where}, SHA-256 verified: {local}")
                return local

        def progress(fraction: float) -> None:
            feedback.setProgress(100.0 * fraction)
            feedback.setProgressText(f"{fraction * entry.size / MIB:.1f} of "
                                     f"{entry.size / MIB:.1f} MiB")

        urls = None
        if source:
            urls = [str(offline_file(Path(source).expanduser(), entry))]
            feedback.pushInfo(f"Installing offline from {urls[0]}")
        else:
            feedback.pushInfo(f"Downloading into {config.models_dir} from "
                              f"{', '.join(entry.urls)}")
        path = fetch(config, entry, QgisTransport(feedback), progress, feedback.isCanceled,
                     feedback.pushInfo, urls=urls)
        feedback.pushInfo(f"Installed {entry.key}: {path} (SHA-256 {entry.sha256} verified)")
        return path


def _check_summary(entry: CatalogueEntry, path: Path, feedback: QgsProcessingFeedback) -> None:
    """Warn when the catalogue's summary disagrees with the file's own metadata (which rules)."""
    try:
        diff = summary_differences(entry, read_model_metadata(path))
    except (MetadataError, OnnxFileError) as exc:
        feedback.pushWarning(f"The downloaded file is not a usable UPSeg model: {exc}")
        return
    if diff:
        feedback.pushWarning(
            f"The catalogue's summary of {entry.key} ({', '.join(diff)}) differs from the "
            "model file's own metadata; the plugin uses the file's. Tell the catalogue's "
            "maintainer."
        )


def catalogue_listing_html() -> str:
    """The models the configured catalogues offer (no network: the last copies)."""
    try:
        cats = catalogues_for(None)
        config = store_config()
    except Exception as exc:  # noqa: BLE001 - the help must always show
        return f"<p>Catalogues could not be read: {exc}</p>"
    rows = []
    for e in all_entries(cats.catalogues):
        here = "embedded" if e.embedded else ("here" if find_local(config, e, verify=False) else
                                              f"{e.size / MIB:.1f} MiB to download")
        cells = (f"<code>{escape(e.id)}</code>", escape(e.version), escape(e.name), here)
        rows.append("<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
    return ("<h3>Models in your catalogues</h3><table border=\"1\" cellspacing=\"0\" "
            "cellpadding=\"3\"><tr><th>id</th><th>version</th><th>name</th><th>status</th></tr>"
            + "".join(rows) + f"</table><p>Models folder: {escape(str(config.models_dir))}</p>")


HELP_TEXT = """<p>Downloads a model listed in a model catalogue into your models folder and \
checks its SHA-256, so that <code>upseg:segment</code> and <code>upseg:model_info</code> can use \
it by id (MODEL=<i>id</i>). Models that <code>upseg:segment</code> needs are also downloaded on \
first use; this algorithm does it ahead of time (e.g. before going offline).</p>
<p>The download goes through QGIS's own network settings (proxy, SSL, authentication: Settings \
&gt; Options &gt; Network). It can be cancelled; a cancelled or broken download is resumed from \
where it stopped on the next run. A file whose SHA-256 differs from the catalogue's is deleted and \
the algorithm says so.</p>
<h3>Parameters</h3>
<dl>
<dt>Model id (MODEL)</dt><dd>The id from a catalogue (see the list below); \
<i>id@version</i> for a given version, else the newest.</dd>
<dt>Extra catalogue (CATALOGUE)</dt><dd>A catalogue file or http(s) URL besides the ones in the \
settings (Settings &gt; Options &gt; Processing &gt; Providers &gt; UPSeg) and the plugin's \
own.</dd>
<dt>Offline source (SOURCE)</dt><dd>Install from a file you already have (or a folder holding \
it, e.g. a copy of another machine's models folder) instead of downloading. The file must have \
the catalogue's SHA-256.</dd>
<dt>Download again (FORCE)</dt><dd>Replace a verified copy that is already here.</dd>
</dl>
<p>Outputs: MODEL_FILE (the verified file), MODEL_ID (<i>id@version</i>), SHA256.</p>"""
