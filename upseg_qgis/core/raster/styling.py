"""The output's look, written without QGIS: a paletted-renderer .qml and a GDAL colour table.

QGIS applies `<raster>.qml` when it opens the raster (also after a headless qgis_process run,
where layer post-processors never run). The colour table and category names inside the GeoTIFF
serve every other GIS, and QGIS too when the .qml is missing.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from xml.sax.saxutils import quoteattr

from ..contract.metadata import ClassInfo

QML_VERSION = "3.22.16-Białowieża"  # the format of QGIS 3.22, which newer versions read


def colour_table(classes: Sequence[ClassInfo]) -> list[tuple[int, tuple[int, int, int, int]]]:
    """(value, RGBA) for every value from 0 to the largest class value; gaps are transparent."""
    by_value = {c.value: c for c in classes}
    top = max(by_value)
    return [
        (v, (*by_value[v].rgb, 255) if v in by_value else (0, 0, 0, 0)) for v in range(top + 1)
    ]


def category_names(classes: Sequence[ClassInfo]) -> list[str]:
    """GDAL category names: entry i names pixel value i ('' for values no class uses)."""
    by_value = {c.value: c.name for c in classes}
    return [by_value.get(v, "") for v in range(max(by_value) + 1)]


def paletted_qml(classes: Sequence[ClassInfo], band: int = 1, opacity: float = 1.0) -> str:
    """A QGIS style: paletted renderer with one entry (value, colour, class name) per class."""
    entries = "\n".join(
        f"        <paletteEntry value={quoteattr(str(c.value))} "
        f"color={quoteattr(c.colour)} alpha=\"255\" label={quoteattr(c.name)}/>"
        for c in classes
    )
    return f"""<!DOCTYPE qgis PUBLIC 'http://mrcc.com/qgis.dtd' 'SYSTEM'>
<qgis version={quoteattr(QML_VERSION)} styleCategories="AllStyleCategories" \
hasScaleBasedVisibilityFlag="0" minScale="1e+08" maxScale="0">
  <flags>
    <Identifiable>1</Identifiable>
    <Removable>1</Removable>
    <Searchable>1</Searchable>
    <Private>0</Private>
  </flags>
  <customproperties>
    <Option type="Map">
      <Option type="QString" name="identify/format" value="Value"/>
    </Option>
  </customproperties>
  <pipe>
    <provider>
      <resampling enabled="false" maxOversampling="2" \
zoomedInResamplingMethod="nearestNeighbour" zoomedOutResamplingMethod="nearestNeighbour"/>
    </provider>
    <rasterrenderer type="paletted" band="{int(band)}" opacity="{float(opacity):g}" \
alphaBand="-1" nodataColor="">
      <rasterTransparency/>
      <minMaxOrigin>
        <limits>None</limits>
        <extent>WholeRaster</extent>
        <statAccuracy>Estimated</statAccuracy>
        <cumulativeCutLower>0.02</cumulativeCutLower>
        <cumulativeCutUpper>0.98</cumulativeCutUpper>
        <stdDevFactor>2</stdDevFactor>
      </minMaxOrigin>
      <colorPalette>
{entries}
      </colorPalette>
    </rasterrenderer>
    <brightnesscontrast brightness="0" contrast="0" gamma="1"/>
    <huesaturation saturation="0" grayscaleMode="0" invertColors="0" colorizeOn="0" \
colorizeRed="255" colorizeGreen="128" colorizeBlue="128" colorizeStrength="100"/>
    <rasterresampler maxOversampling="2"/>
    <resamplingStage>resamplingFilter</resamplingStage>
  </pipe>
  <blendMode>0</blendMode>
</qgis>
"""


def qml_path(raster: str | Path) -> Path:
    """Where QGIS looks for a raster's default style: same folder, same stem, .qml."""
    return Path(raster).with_suffix(".qml")


def write_qml(raster: str | Path, classes: Sequence[ClassInfo]) -> Path:
    path = qml_path(raster)
    path.write_text(paletted_qml(classes), encoding="utf-8")
    return path
