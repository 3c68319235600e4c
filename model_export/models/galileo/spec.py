"""Facts about Galileo-nano's inputs, taken from the authors' published code (nasaharvest/galileo,
commit d04822911e853668034888a90d490b799fae6929) and checked against their encoder in
tests/test_galileo_encoder.py: band groups, pretraining statistics, month and resolution."""

from __future__ import annotations

from collections.abc import Sequence

# Space-time channel groups in the encoder's order; each group becomes one token per patch.
# NDVI is a group of the checkpoint but is computed, not measured: this project never feeds it.
SPACE_TIME_GROUPS: dict[str, tuple[str, ...]] = {
    "S1": ("VV", "VH"),
    "S2_RGB": ("B2", "B3", "B4"),
    "S2_Red_Edge": ("B5", "B6", "B7"),
    "S2_NIR_10m": ("B8",),
    "S2_NIR_20m": ("B8A",),
    "S2_SWIR": ("B11", "B12"),
    "NDVI": ("NDVI",),
}
# The groups this project feeds (S1 + S2), in the encoder's order.
INPUT_GROUPS: tuple[str, ...] = tuple(g for g in SPACE_TIME_GROUPS if g != "NDVI")
INPUT_BANDS: tuple[str, ...] = tuple(b for g in INPUT_GROUPS for b in SPACE_TIME_GROUPS[g])
SAR_GROUPS: tuple[str, ...] = ("S1",)
OPTICAL_GROUPS: tuple[str, ...] = tuple(g for g in INPUT_GROUPS if g not in SAR_GROUPS)

# The other groups of the checkpoint (space, time, static) and their channel counts: kept in
# the module only so that the published state dict loads one to one.
SPACE_GROUPS: dict[str, int] = {"SRTM": 2, "DW": 9, "WC": 5}
TIME_GROUPS: dict[str, int] = {"ERA5": 2, "TC": 3, "VIIRS": 1}
STATIC_GROUPS: dict[str, int] = {"LS": 1, "location": 3, "DW_static": 9, "WC_static": 5}

# Pretraining statistics (their PRETRAINING_NORMALIZING_DICT["13"]) of VV, VH in dB and
# B2..B12 as reflectance x 10000, in INPUT_BANDS order (NDVI's entry is not used).
PRETRAIN_MEAN: tuple[float, ...] = (
    -11.728724389184965, -18.85558188024017, 1395.3408730676722, 1338.4026921784578,
    1343.09883810357, 1543.8607982512297, 2186.2022069512263, 2525.0932853316694,
    2410.3377187373408, 2750.2854646886753, 2234.911100061487, 1474.5311266077113)
PRETRAIN_STD: tuple[float, ...] = (
    4.887145774840316, 5.730270320384293, 917.7041440370853, 913.2988423581528,
    1092.678723527555, 1047.2206083460424, 1048.0101611156767, 1143.6903026819996,
    1098.979177731649, 1204.472755085893, 1145.9774063078878, 980.2429840007796)
# Their "std" normalisation maps mean +- STD_MULTIPLIER * std onto [0, 1].
STD_MULTIPLIER = 2.0

DEFAULT_MONTH = 5  # index 0..11 into the month table; their default for unknown dates
BASE_GSD_M = 10.0
PATCH_SIZES: tuple[int, ...] = tuple(range(1, 9))
MAX_PATCH = 8

# Names a dataset may use for a Galileo band (case-insensitive).
_ALIASES: dict[str, tuple[str, ...]] = {
    "VV": ("vv", "s1_vv", "sar"), "VH": ("vh", "s1_vh"),
    "B2": ("b2", "b02", "blue", "b"), "B3": ("b3", "b03", "green", "g"),
    "B4": ("b4", "b04", "red", "r"), "B5": ("b5", "b05", "rededge1"),
    "B6": ("b6", "b06", "rededge2"), "B7": ("b7", "b07", "rededge3"),
    "B8": ("b8", "b08", "nir", "n"), "B8A": ("b8a", "nir08"),
    "B11": ("b11", "swir1"), "B12": ("b12", "swir2"),
}


def galileo_band(name: str) -> str | None:
    """The Galileo band a dataset's band name stands for, or None."""
    key = name.strip().lower()
    for band, aliases in _ALIASES.items():
        if key == band.lower() or key in aliases:
            return band
    return None


def resolve_bands(names: Sequence[str]) -> list[str]:
    """Galileo band of each name; unknown or repeated bands are an error that says what fits."""
    out = []
    for name in names:
        band = galileo_band(name)
        if band is None:
            raise ValueError(f"band {name!r} is not a Galileo S1/S2 band; use one of "
                             f"{', '.join(INPUT_BANDS)}")
        if band in out:
            raise ValueError(f"band {band} given twice")
        out.append(band)
    return out


def complete_groups(bands: Sequence[str]) -> list[str]:
    """Groups whose bands are all among `bands`, in the encoder's order; a group given only in
    part is an error (Galileo embeds a group's bands together)."""
    given = set(bands)
    groups = []
    for group in INPUT_GROUPS:
        members = set(SPACE_TIME_GROUPS[group])
        if members <= given:
            groups.append(group)
        elif members & given:
            raise ValueError(f"group {group} needs all of {', '.join(SPACE_TIME_GROUPS[group])}; "
                             f"got only {', '.join(sorted(members & given))}")
    if not groups:
        raise ValueError("no complete Galileo group among the bands given")
    return groups


def pretrain_shift_scale(band: str) -> tuple[float, float]:
    """(shift, divisor) of the authors' normalisation: x_norm = (x - shift) / divisor."""
    i = INPUT_BANDS.index(band)
    mean, std = PRETRAIN_MEAN[i], PRETRAIN_STD[i]
    return mean - STD_MULTIPLIER * std, 2 * STD_MULTIPLIER * std
