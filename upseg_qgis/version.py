"""The plugin version, read from metadata.txt (the single source)."""

from __future__ import annotations

import configparser
from functools import lru_cache
from pathlib import Path


@lru_cache(maxsize=1)
def plugin_metadata() -> dict[str, str]:
    parser = configparser.ConfigParser(interpolation=None)
    parser.read(Path(__file__).with_name("metadata.txt"), encoding="utf-8")
    return dict(parser["general"]) if parser.has_section("general") else {}


def plugin_version() -> str:
    return plugin_metadata().get("version", "unknown")
