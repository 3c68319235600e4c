"""Dataset specifications: what the bands are, in which units, and what the classes mean.

A :class:`DatasetSpec` travels with a trained model (checkpoint ``dataset`` key, then the ONNX
metadata) so that the QGIS plugin can match the analyst's layers to the bands the model was trained
on and style the output map. Everything here is plain data; ``to_dict`` gives JSON-safe dicts.

``ClassSpec.value`` is the pixel value the model writes in the output map (its class index
``0..K-1``), not the code used by the dataset's label files (WHU-OPT-SAR codes 0/10/.../70, GID uses
RGB colours); each reader maps its own coding to these indices.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field
from typing import Any

IGNORE_INDEX = 255
_COLOUR = re.compile(r"^#[0-9a-fA-F]{6}$")


@dataclass(frozen=True)
class ClassSpec:
    value: int
    name: str
    colour: str  # "#rrggbb"

    def __post_init__(self) -> None:
        if not _COLOUR.match(self.colour):
            raise ValueError(f"class {self.name!r}: colour must be '#rrggbb', got {self.colour!r}")

    def to_dict(self) -> dict[str, Any]:
        return {"value": int(self.value), "name": self.name, "colour": self.colour.lower()}

    @property
    def rgb(self) -> tuple[int, int, int]:
        return hex_to_rgb(self.colour)


@dataclass(frozen=True)
class BandSpec:
    name: str  # short machine name, e.g. "red"
    description: str  # human text, e.g. "S2 B4 red"
    aliases: tuple[str, ...] = ()  # names a layer's band may carry, e.g. ("B4", "B04", "red")

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "description": self.description, "aliases": list(self.aliases)}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> BandSpec:
        return cls(d["name"], d.get("description", d["name"]), tuple(d.get("aliases", ())))


@dataclass
class DatasetSpec:
    name: str
    classes: list[ClassSpec]
    optical_bands: list[BandSpec]
    sar_bands: list[BandSpec]
    # Ids of upseg_qgis.core.contract.metadata.UNITS (e.g. "uint8_rendering", "sar_db"): the export
    # writes them into the model metadata, which the plugin reads.
    optical_units: str
    sar_units: str
    optical_range: tuple[float, float]
    sar_range: tuple[float, float]
    gsd_m: float | None = None
    citation: str = ""
    licence: str = ""
    ignore_index: int = IGNORE_INDEX
    description: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        values = [c.value for c in self.classes]
        if values != list(range(len(values))):
            raise ValueError(f"{self.name}: class values must be 0..K-1 in order, got {values}")
        if self.ignore_index in values:
            raise ValueError(f"{self.name}: ignore_index {self.ignore_index} is also a class value")

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def in_channels_optical(self) -> int:
        return len(self.optical_bands)

    @property
    def in_channels_sar(self) -> int:
        return len(self.sar_bands)

    @property
    def class_names(self) -> list[str]:
        return [c.name for c in self.classes]

    def class_index(self, name: str) -> int:
        """Index of a class by (case-insensitive) name; ``KeyError`` if absent."""
        for c in self.classes:
            if c.name.lower() == name.lower():
                return c.value
        raise KeyError(f"{self.name} has no class {name!r} (classes: {self.class_names})")

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "description": self.description,
            "classes": [c.to_dict() for c in self.classes],
            "ignore_index": int(self.ignore_index),
            "optical_bands": [b.to_dict() for b in self.optical_bands],
            "sar_bands": [b.to_dict() for b in self.sar_bands],
            "optical_units": self.optical_units,
            "sar_units": self.sar_units,
            "optical_range": [float(v) for v in self.optical_range],
            "sar_range": [float(v) for v in self.sar_range],
            "gsd_m": None if self.gsd_m is None else float(self.gsd_m),
            "citation": self.citation,
            "licence": self.licence,
            "extra": dict(self.extra),
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> DatasetSpec:
        return cls(
            name=d["name"],
            description=d.get("description", ""),
            classes=[ClassSpec(int(c["value"]), c["name"], c["colour"]) for c in d["classes"]],
            ignore_index=int(d.get("ignore_index", IGNORE_INDEX)),
            optical_bands=[BandSpec.from_dict(b) for b in d.get("optical_bands", [])],
            sar_bands=[BandSpec.from_dict(b) for b in d.get("sar_bands", [])],
            optical_units=d.get("optical_units", ""),
            sar_units=d.get("sar_units", ""),
            optical_range=tuple(d.get("optical_range", (0.0, 255.0))),
            sar_range=tuple(d.get("sar_range", (0.0, 255.0))),
            gsd_m=d.get("gsd_m"),
            citation=d.get("citation", ""),
            licence=d.get("licence", ""),
            extra=dict(d.get("extra", {})),
        )

    def replace(self, **changes: Any) -> DatasetSpec:
        return dataclasses.replace(self, **changes)


def hex_to_rgb(colour: str) -> tuple[int, int, int]:
    c = colour.lstrip("#")
    return int(c[0:2], 16), int(c[2:4], 16), int(c[4:6], 16)


def rgb_to_hex(rgb: tuple[int, int, int] | list[int]) -> str:
    r, g, b = (int(v) for v in rgb)
    return f"#{r:02x}{g:02x}{b:02x}"


def make_classes(items: list[tuple[str, str]]) -> list[ClassSpec]:
    """``[(name, colour), ...]`` -> ClassSpecs with values 0..K-1."""
    return [ClassSpec(i, n, c) for i, (n, c) in enumerate(items)]


def default_colour(i: int) -> str:
    """A stable, distinguishable colour for class ``i`` when a user gives none (tab10)."""
    tab10 = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
             "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"]
    return tab10[i % len(tab10)]


# --- Bands ------------------------------------------------------------------------------------

S2_RGB = [
    BandSpec("red", "S2 B4 red (8-bit true-colour rendering)", ("B4", "B04", "red", "R")),
    BandSpec("green", "S2 B3 green (8-bit true-colour rendering)", ("B3", "B03", "green", "G")),
    BandSpec("blue", "S2 B2 blue (8-bit true-colour rendering)", ("B2", "B02", "blue", "B")),
]
S1_GREY = [
    BandSpec("sar", "S1 backscatter, 8-bit rendering (polarisation not stated, likely VV)",
             ("VV", "S1", "sar", "grey")),
]
RGBN = [
    BandSpec("red", "red", ("red", "R", "B3")),
    BandSpec("green", "green", ("green", "G", "B2")),
    BandSpec("blue", "blue", ("blue", "B", "B1")),
    BandSpec("nir", "near infrared", ("nir", "NIR", "N", "B4")),
]
BGRN_REFLECTANCE = [
    BandSpec("blue", "blue, reflectance x 10000", ("blue", "B", "B2", "B02")),
    BandSpec("green", "green, reflectance x 10000", ("green", "G", "B3", "B03")),
    BandSpec("red", "red, reflectance x 10000", ("red", "R", "B4", "B04")),
    BandSpec("nir", "near infrared, reflectance x 10000", ("nir", "NIR", "N", "B8", "B08")),
]

# --- Classes ----------------------------------------------------------------------------------

WHU_OPT_SAR_CLASSES = make_classes([
    ("background", "#000000"),
    ("farmland", "#cdaa66"),
    ("city", "#e60000"),
    ("village", "#ff9f7f"),
    ("water", "#0070ff"),
    ("forest", "#267300"),
    ("road", "#9c9c9c"),
    ("others", "#e6e600"),
])

# GID colours are the dataset's own label colours; "unlabelled" black is mapped to ignore.
GID5_CLASSES = make_classes([
    ("built-up", "#ff0000"),
    ("farmland", "#00ff00"),
    ("forest", "#00ffff"),
    ("meadow", "#ffff00"),
    ("water", "#0000ff"),
])
GID15_CLASSES = make_classes([
    ("industrial land", "#c80000"),
    ("urban residential", "#fa0096"),
    ("rural residential", "#c89696"),
    ("traffic land", "#fa9696"),
    ("paddy field", "#00c800"),
    ("irrigated land", "#96fa00"),
    ("dry cropland", "#96c896"),
    ("garden plot", "#c800c8"),
    ("arbor woodland", "#9600fa"),
    ("shrub land", "#9696fa"),
    ("natural grassland", "#fac800"),
    ("artificial grassland", "#c8c800"),
    ("river", "#0000c8"),
    ("lake", "#0096c8"),
    ("pond", "#00c8fa"),
])

# --- Datasets ---------------------------------------------------------------------------------

OMBRIA_SPEC = DatasetSpec(
    name="ombria",
    description="OMBRIA flood mapping: Sentinel-1 + Sentinel-2 after the event, 256x256 patches",
    classes=make_classes([("not water", "#d9d9d9"), ("water", "#0070ff")]),
    optical_bands=S2_RGB,
    sar_bands=S1_GREY,
    # The 8-bit stretch used to render OMBRIA is undocumented: models trained on it expect a
    # similar rendering (the gain/offset jitter in transforms.py widens what they accept).
    optical_units="uint8_rendering",
    sar_units="uint8_rendering",
    optical_range=(0.0, 255.0),
    sar_range=(0.0, 255.0),
    gsd_m=10.0,
    citation=(
        "G. I. Drakonakis et al., \"OmbriaNet - Supervised Flood Mapping via Convolutional Neural "
        "Networks Using Multitemporal Sentinel-1 and Sentinel-2 Data Fusion\", IEEE JSTARS 15, 2022"
    ),
    licence="no licence file in geodrak/OMBRIA; citation requested",
)

WHU_OPT_SAR_SPEC = DatasetSpec(
    name="whu_opt_sar",
    description="WHU-OPT-SAR: GF-1 optical RGB-NIR + GF-3 SAR scenes, 5 m, 8 land-cover classes",
    classes=WHU_OPT_SAR_CLASSES,
    optical_bands=RGBN,
    sar_bands=[BandSpec("sar", "GF-3 SAR intensity, 8-bit", ("sar", "HH", "VV", "GF3"))],
    optical_units="uint8_rendering",
    sar_units="uint8_rendering",
    optical_range=(0.0, 255.0),
    sar_range=(0.0, 255.0),
    gsd_m=5.0,
    citation=(
        "X. Li, G. Zhang, H. Cui et al., \"MCANet: A joint semantic segmentation framework of "
        "optical and SAR images for land use classification\", JAG 106, 2022"
    ),
    licence="see github.com/AmberHen/WHU-OPT-SAR-dataset",
)

_GID_CITATION = (
    "X.-Y. Tong et al., \"Land-cover classification with high-resolution remote sensing images "
    "using transferable deep models\", Remote Sensing of Environment 237, 2020"
)
GID_NIRRGB = [
    BandSpec("nir", "Gaofen-2 PMS NIR", ("nir", "NIR", "N", "B4")),
    BandSpec("red", "Gaofen-2 PMS red", ("red", "R", "B3")),
    BandSpec("green", "Gaofen-2 PMS green", ("green", "G", "B2")),
    BandSpec("blue", "Gaofen-2 PMS blue", ("blue", "B", "B1")),
]
_GID_COMMON: dict[str, Any] = dict(
    optical_bands=GID_NIRRGB,
    # GID has no SAR; the reader either takes a user-supplied 8-bit SAR folder or fills zeros.
    sar_bands=[BandSpec("sar", "SAR supplied by the user (GID has none)", ("sar", "VV", "HH"))],
    optical_units="uint8_rendering",
    sar_units="uint8_rendering",
    optical_range=(0.0, 255.0),
    sar_range=(0.0, 255.0),
    gsd_m=4.0,
    citation=_GID_CITATION,
    licence="GID terms of use (x-ytong.github.io/project/GID.html)",
)
GID5_SPEC = DatasetSpec(name="gid5", description="GID large-scale classification, 5 classes",
                        classes=GID5_CLASSES, **_GID_COMMON)
GID15_SPEC = DatasetSpec(name="gid15", description="GID fine land-cover classification, 15 classes",
                         classes=GID15_CLASSES, **_GID_COMMON)

SYNTHETIC_SPEC = DatasetSpec(
    name="synthetic",
    description=("SYNTHETIC optical + SAR scenes (generated, not real data) with WHU-OPT-SAR "
                 "classes"),
    classes=WHU_OPT_SAR_CLASSES,
    optical_bands=BGRN_REFLECTANCE,
    sar_bands=[BandSpec("vv", "synthetic VV backscatter, dB", ("VV", "sar"))],
    optical_units="reflectance_x10000",
    sar_units="sar_db",
    optical_range=(0.0, 10000.0),
    sar_range=(-30.0, 10.0),
    gsd_m=10.0,
    citation="synthetic data generated by model_export.data.synthetic",
    licence="synthetic, no restrictions",
    extra={"synthetic": True},
)

SYNTHETIC_WATER_SPEC = SYNTHETIC_SPEC.replace(
    name="synthetic_water",
    description="SYNTHETIC optical + SAR scenes (generated), water / not water",
    classes=make_classes([("not water", "#d9d9d9"), ("water", "#0070ff")]),
)

SPECS: dict[str, DatasetSpec] = {
    s.name: s for s in (OMBRIA_SPEC, WHU_OPT_SAR_SPEC, GID5_SPEC, GID15_SPEC, SYNTHETIC_SPEC,
                        SYNTHETIC_WATER_SPEC)
}


def get_spec(name: str) -> DatasetSpec:
    try:
        return SPECS[name]
    except KeyError as exc:
        raise KeyError(f"unknown dataset spec {name!r}; known: {sorted(SPECS)}") from exc
