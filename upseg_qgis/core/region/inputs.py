"""Scene lists and folders -> one mosaic per role (a VRT in the work folder), and footprints.

A role's scenes (files, folders of rasters, VRT mosaics) become one GDAL dataset the single-scene
code reads like any layer. Scenes in one CRS are mosaicked as they are (`gdal.BuildVRT`, no
resampling); scenes in other CRSs are first warped into the first scene's CRS (float32, NaN where
missing). Where scenes overlap, the later one in the list wins (GDAL's VRT rule).

That warp takes the nearest pixel for SAR: its values may be dB, and an interpolation of dB is not
the dB of any backscatter (-5 and -25 dB interpolate to -15 dB, their mean power is -8 dB). The
single-scene code then resamples the SAR onto the output grid once, in linear power when in dB.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from osgeo import gdal

from ..raster.gdal_errors import RasterError, gdal_call
from ..raster.grid import Grid, raster_grid, same_crs, transform_bounds
from ..raster.reading import alpha_band, band_labels, data_band_count, open_raster

RASTER_SUFFIXES = (".tif", ".tiff", ".vrt", ".jp2", ".img", ".nc")


@dataclass(frozen=True)
class Scene:
    path: str
    grid: Grid
    labels: tuple[str, ...]  # of the data bands (`reading.band_labels`: no alpha band)
    dtype: str
    alpha: bool = False  # has an alpha band (a mosaic built with gdalbuildvrt -addalpha)

    @property
    def band_count(self) -> int:
        return len(self.labels)


def expand_inputs(items: Sequence[str | Path], role: str) -> list[str]:
    """Files as given; folders as their raster files (sorted, not recursive); duplicates once."""
    out: list[str] = []
    for item in items:
        p = Path(item)
        if p.is_dir():
            found = sorted(
                str(f.resolve()) for f in p.iterdir()
                if f.is_file() and f.suffix.lower() in RASTER_SUFFIXES
                and not f.name.endswith(".partial.tif")
            )
            if not found:
                raise RasterError(
                    f"The {role} folder {p} holds no raster files ({', '.join(RASTER_SUFFIXES)})."
                )
            out += found
        elif p.is_file() or str(item).startswith("/vsi"):
            out.append(str(p.resolve()) if p.is_file() else str(item))
        else:
            raise RasterError(f"The {role} input {item} does not exist. Give files or folders.")
    unique = list(dict.fromkeys(out))
    if not unique:
        raise RasterError(f"No {role} scenes were given.")
    return unique


def describe_scenes(paths: Sequence[str], role: str) -> list[Scene]:
    """Open every scene once; they must share band count, band names, data type and whether
    they have an alpha band (`gdal.BuildVRT` would leave out a scene that differs)."""
    scenes = []
    for path in paths:
        ds = open_raster(path, role)
        band = ds.GetRasterBand(1)
        scenes.append(
            Scene(path, raster_grid(ds, role), tuple(band_labels(ds)),
                  gdal.GetDataTypeName(band.DataType), alpha_band(ds) is not None)
        )
        ds = None
    first = scenes[0]
    for s in scenes[1:]:
        if s.band_count != first.band_count or (s.labels != first.labels and all(s.labels)):
            raise RasterError(
                f"The {role} scene {s.path} has bands {list(s.labels)} but {first.path} has "
                f"{list(first.labels)}. Give {role} scenes with the same bands in the same order."
            )
        if s.alpha != first.alpha:
            with_alpha, without = (s, first) if s.alpha else (first, s)
            raise RasterError(
                f"The {role} scene {with_alpha.path} has an alpha band but {without.path} has "
                f"none, so they cannot share a mosaic. Give {role} scenes that all have one or "
                "all lack one (e.g. the scenes a mosaic with an alpha band was built from)."
            )
        if s.dtype != first.dtype:
            raise RasterError(
                f"The {role} scene {s.path} is {s.dtype} but {first.path} is {first.dtype}. "
                f"Give {role} scenes of one data type (convert them with gdal_translate -ot)."
            )
        if not s.grid.georeferenced:
            raise RasterError(
                f"The {role} scene {s.path} is not georeferenced, so it cannot be placed in a "
                "mosaic. Georeference it, or segment it alone with upseg:segment."
            )
    return scenes


# Files GDAL lists beside a dataset's sources that are not sources.
_SIDECARS = (".aux.xml", ".ovr", ".msk")


def scene_sources(path: str, role: str, depth: int = 0) -> list[str]:
    """The files a scene's pixels come from: a VRT mosaic's sources (theirs in turn), when each
    holds the scene's data bands; else the scene itself (a VRT stacking bands with -separate)."""
    ds = open_raster(path, role)
    if ds.GetDriver().ShortName != "VRT" or depth > 4:
        return [path]
    n = data_band_count(ds)
    files = [f for f in dict.fromkeys((ds.GetFileList() or [])[1:])
             if not f.lower().endswith(_SIDECARS)]
    out: list[str] = []
    for f in files:
        try:
            src = open_raster(f, role)
        except RasterError:
            return [path]
        if data_band_count(src) != n:
            return [path]
        out += scene_sources(f, role, depth + 1)
    return out or [path]


def footprint(scene: Scene, crs_wkt: str) -> tuple[float, float, float, float] | None:
    """The scene's bounds in `crs_wkt` (None when PROJ cannot transform them)."""
    return transform_bounds(scene.grid.bounds, scene.grid.crs_wkt, crs_wkt)


def build_mosaic(scenes: Sequence[Scene], role: str, folder: Path) -> str:
    """One dataset for the role: the scene itself when there is one, else a VRT in `folder`."""
    if len(scenes) == 1:
        return scenes[0].path
    folder.mkdir(parents=True, exist_ok=True)
    crs = scenes[0].grid.crs_wkt
    sources = [s.path for s in scenes]
    if not all(same_crs(s.grid.crs_wkt, crs) for s in scenes):
        # Scenes in other CRSs are warped to float32 with NaN; the rest become float32 alike.
        sources = [
            _as_float(s.path, folder / f"{role.lower()}_{i:04d}_f32.vrt")
            if same_crs(s.grid.crs_wkt, crs)
            else _warped(s, crs, folder / f"{role.lower()}_{i:04d}_warped.vrt", role)
            for i, s in enumerate(scenes)
        ]
    dest = folder / f"{role.lower()}_mosaic.vrt"
    # Without a nodata value, gaps between scenes would read as 0, a valid value: an alpha band
    # marks them missing instead (the single-scene code honours alpha as a mask).
    opts = gdal.BuildVRTOptions(resolution="highest", addAlpha=not _all_have_nodata(sources))
    vrt = gdal_call(f"Mosaicking the {role} scenes", gdal.BuildVRT, str(dest), sources,
                    options=opts)
    # BuildVRT drops band descriptions and metadata; band and unit choice read them.
    first = open_raster(scenes[0].path, role)
    vrt.SetMetadata(first.GetMetadata() or {})
    for b in range(1, first.RasterCount + 1):
        src, dst = first.GetRasterBand(b), vrt.GetRasterBand(b)
        if src.GetDescription():
            dst.SetDescription(src.GetDescription())
        if src.GetMetadata():
            dst.SetMetadata(src.GetMetadata())
    vrt = None
    return str(dest)


def _all_have_nodata(paths: Sequence[str]) -> bool:
    for path in paths:
        ds = open_raster(path, "scene")
        if any(ds.GetRasterBand(b).GetNoDataValue() is None
               for b in range(1, ds.RasterCount + 1)):
            return False
    return True


def _as_float(path: str, dest: Path) -> str:
    ds = open_raster(path, "scene")
    nodata = [ds.GetRasterBand(b).GetNoDataValue() for b in range(1, ds.RasterCount + 1)]
    opts = gdal.TranslateOptions(format="VRT", outputType=gdal.GDT_Float32,
                                 noData="nan" if nodata[0] is None else nodata[0])
    gdal_call(f"Converting {path}", gdal.Translate, str(dest), ds, options=opts)
    return str(dest)


def _warped(scene: Scene, crs_wkt: str, dest: Path, role: str) -> str:
    ds = open_raster(scene.path, role)
    nodata = ds.GetRasterBand(1).GetNoDataValue()
    opts = gdal.WarpOptions(
        format="VRT",
        dstSRS=crs_wkt,
        outputType=gdal.GDT_Float32,
        srcNodata=None if nodata is None else nodata,
        dstNodata="nan",
        resampleAlg="near" if role == "SAR" else "bilinear",
        errorThreshold=0.01,
    )
    gdal_call(f"Reprojecting the {role} scene {scene.path}", gdal.Warp, str(dest), ds,
              options=opts)
    return str(dest)
