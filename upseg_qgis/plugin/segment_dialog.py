"""The segment dialog explains the selected model: its help panel starts with what the model in
MODEL expects and produces (the compact `upseg:model_info` report), updated as MODEL changes, and
a drop-down under MODEL offers the catalogue models.

`model_help_html` also feeds `shortHelpString` (the default model's report), so `qgis_process
help upseg:segment` shows it too. Nothing here downloads: a catalogue model that is not here yet
is described from its catalogue entry.
"""

from __future__ import annotations

import traceback
from html import escape
from typing import Any

from qgis.core import QgsMessageLog, QgsProcessingAlgorithm, QgsProcessingContext
from qgis.PyQt.QtWidgets import QComboBox, QTextBrowser

from ..core.models.catalogue import all_entries
from ..core.models.resolve import describe_model
from ..core.models.store import find_local
from . import qt_compat as qt
from .model_access import catalogues_for
from .model_settings import store_config

MIB = 1 << 20
MODEL = "MODEL"


def model_help_html(value: str | None) -> str:
    """The compact report of MODEL's model as an HTML fragment (never raises)."""
    try:
        report = describe_model(value, store_config(), None, compact=True)
    except Exception as exc:  # noqa: BLE001 - a help panel must show something, not fail
        what = escape(value or "the embedded default model")
        return f"<h3>Model: {what}</h3><p>Cannot describe this model: {escape(str(exc))}</p>"
    return (f"<h2>Model: {escape(report.title)}</h2>"
            + report.to_html(full_page=False, title=False) + "<hr/>")


def catalogue_choices() -> list[tuple[str, str]]:
    """(label, MODEL value) for the drop-down: the embedded model, then every catalogue model."""
    config = store_config()
    choices = [("Embedded default model", "")]
    for e in all_entries(catalogues_for(None, config=config).catalogues):
        if e.embedded:
            continue
        here = find_local(config, e, verify=False)
        state = "downloaded" if here else f"{e.size / MIB:.0f} MiB download"
        choices.append((f"{e.name} [{e.id}, {state}]", e.id))
    return choices


def create_dialog(alg: QgsProcessingAlgorithm, parent: Any = None) -> Any:
    """The segment dialog, or None (QGIS then opens its standard one) if anything is amiss."""
    try:
        return _dialog_class()(alg, parent)
    except Exception:  # noqa: BLE001 - the standard dialog is always a safe fallback
        QgsMessageLog.logMessage("UPSeg: the segment dialog fell back to the standard one:\n"
                                 + traceback.format_exc(), "UPSeg", qt.WARNING)
        return None


def _dialog_class() -> type:
    from processing.gui.AlgorithmDialog import AlgorithmDialog

    class SegmentDialog(AlgorithmDialog):
        def __init__(self, alg: QgsProcessingAlgorithm, parent: Any = None) -> None:
            super().__init__(alg, False, parent)
            self._alg = alg
            self._wrapper = self.mainWidget().wrappers.get(MODEL)
            self._help = self.findChild(QTextBrowser, "textShortHelp")
            if self._wrapper is None or self._help is None:
                raise RuntimeError("unexpected Processing dialog layout")
            self._wrapper.widgetValueHasChanged.connect(self._show_model_help)
            self._add_choices()
            self._show_model_help()

        def model_value(self) -> str:
            value = self._wrapper.parameterValue()
            return str(value) if value else ""  # None or QGIS's NULL (falsy): not set

        def _show_model_help(self, *_args: Any) -> None:
            body = self._alg.help_for_model(self.model_value())
            self._help.setHtml(f"<h2>{escape(self._alg.displayName())}</h2>{body}")

        def _add_choices(self) -> None:
            widget = self._wrapper.wrappedWidget()
            layout = widget.parentWidget().layout() if widget is not None else None
            index = layout.indexOf(widget) if layout is not None else -1
            if index < 0:
                return  # another QGIS layout: the help still follows MODEL
            combo = QComboBox()
            combo.setObjectName("upsegModelChoices")
            combo.addItem("Choose a model from the catalogues…", None)
            for label, value in catalogue_choices():
                combo.addItem(label, value)
            combo.setToolTip("Sets MODEL to a catalogue model id (downloaded on first use)")

            def chosen(i: int) -> None:
                value = combo.itemData(i)
                if value is not None:
                    self._wrapper.setParameterValue(value, QgsProcessingContext())

            combo.activated.connect(chosen)
            layout.insertWidget(index + 1, combo)
            self.model_choices = combo

    return SegmentDialog
