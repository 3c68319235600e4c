"""The UPSeg model settings: models folder, offline folders, catalogues, downloads on first use.

Shown in Settings > Options > Processing > Providers > UPSeg (Processing's own settings page, so
they are stored in the QGIS profile and read the same way by qgis_process). Environment
variables override them on servers and in tests:

    UPSEG_MODELS_DIR     the models folder
    UPSEG_MODEL_FOLDERS  extra offline folders, separated by ';'
    UPSEG_CATALOGUES     extra catalogues (files or URLs), separated by ';'
    UPSEG_OFFLINE=1      never download (ids resolve only to files already here)
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from qgis.core import QgsApplication, QgsSettings

from ..core.models.store import StoreConfig

GROUP = "UPSeg"
MODELS_FOLDER = "UPSEG_MODELS_FOLDER"
OFFLINE_FOLDERS = "UPSEG_OFFLINE_FOLDERS"
CATALOGUES = "UPSEG_CATALOGUES"
DOWNLOAD_ON_FIRST_USE = "UPSEG_DOWNLOAD_ON_FIRST_USE"
_PREFIX = "Processing/Configuration/"  # where Processing's settings page stores its values


def default_models_dir() -> Path:
    return Path(QgsApplication.qgisSettingsDirPath()) / "upseg_models"


def _value(name: str, default: Any = "") -> Any:
    return QgsSettings().value(_PREFIX + name, default)


def _split(text: Any) -> list[str]:
    return [p.strip() for p in str(text or "").split(";") if p.strip()]


def _flag(value: Any) -> bool:
    return str(value).strip().lower() not in ("false", "0", "no", "")


def store_config() -> StoreConfig:
    """The settings in effect, environment first."""
    models = os.environ.get("UPSEG_MODELS_DIR") or _value(MODELS_FOLDER) or default_models_dir()
    folders = _split(os.environ.get("UPSEG_MODEL_FOLDERS")) + _split(_value(OFFLINE_FOLDERS))
    catalogues = _split(os.environ.get("UPSEG_CATALOGUES")) + _split(_value(CATALOGUES))
    download = _flag(_value(DOWNLOAD_ON_FIRST_USE, True)) \
        and not _flag(os.environ.get("UPSEG_OFFLINE", "0"))
    return StoreConfig(Path(models).expanduser(), tuple(Path(f).expanduser() for f in folders),
                       tuple(dict.fromkeys(catalogues)), download)


def register(icon: Any = None) -> None:
    """Add the settings to Processing's options page (desktop and qgis_process alike)."""
    try:
        from processing.core.ProcessingConfig import ProcessingConfig, Setting
    except ImportError:  # Processing's Python plugin is not loaded: settings stay readable
        return
    if icon is not None:
        ProcessingConfig.settingIcons[GROUP] = icon
    # The options page lists a group's settings in reverse order of adding.
    for setting in reversed((
        Setting(GROUP, MODELS_FOLDER, "Models folder (downloads go here; empty: in the QGIS "
                "profile)", "", valuetype=Setting.FOLDER),
        Setting(GROUP, OFFLINE_FOLDERS, "Offline model folders (searched before downloading; "
                "e.g. a team share)", "", valuetype=Setting.MULTIPLE_FOLDERS),
        Setting(GROUP, CATALOGUES, "Model catalogues (files or URLs, separated by ';')", ""),
        Setting(GROUP, DOWNLOAD_ON_FIRST_USE, "Download catalogue models on first use", True),
    )):
        ProcessingConfig.addSetting(setting)
    ProcessingConfig.readSettings()


def unregister() -> None:
    try:
        from processing.core.ProcessingConfig import ProcessingConfig
    except ImportError:
        return
    for name in (MODELS_FOLDER, OFFLINE_FOLDERS, CATALOGUES, DOWNLOAD_ON_FIRST_USE):
        if name in ProcessingConfig.settings:
            ProcessingConfig.removeSetting(name)
