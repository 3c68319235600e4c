"""The chip's zero-parameter baselines, computed by the project's own code, against figures
measured independently on the same chip (issue 20: NDWI 0.676, MNDWI 0.696, Otsu on VV 0.565) and
against a separate few-line NDWI written here from the published formula."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from osgeo import gdal

from model_export.evaluation.chip_baselines import chip_baselines, main

CHIP = "sen1floods11_sample"


def test_baselines_match_independent_measurements(shared_data: Path) -> None:
    scores = chip_baselines(shared_data)
    assert scores["NDWI > 0"] == pytest.approx(0.676, abs=0.002)
    assert scores["MNDWI > 0.1"] == pytest.approx(0.696, abs=0.002)
    assert scores["Otsu on VV"] == pytest.approx(0.565, abs=0.01)  # histogram binning differs


def test_ndwi_against_a_separate_implementation(shared_data: Path) -> None:
    s2 = gdal.Open(str(shared_data / CHIP / "Spain_7370579_S2Hand.tif"))
    green = s2.GetRasterBand(3).ReadAsArray().astype(float)  # B3
    nir = s2.GetRasterBand(8).ReadAsArray().astype(float)  # B8 (B8A is band 9)
    label = gdal.Open(str(shared_data / CHIP / "Spain_7370579_LabelHand.tif")).ReadAsArray()
    water = (green - nir) > 0  # (g - n) / (g + n) > 0 with positive reflectances
    known = label >= 0
    inter = (water & (label == 1) & known).sum()
    union = ((water | (label == 1)) & known).sum()
    assert chip_baselines(shared_data)["NDWI > 0"] == pytest.approx(inter / union, abs=1e-9)
    assert np.all(green + nir > 0)  # the shortcut above holds on this chip


def test_command_prints_each_baseline(shared_data: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["--data-root", str(shared_data)]) == 0
    out = capsys.readouterr().out
    assert [line.split()[1] for line in out.splitlines()] == ["NDWI", "MNDWI", "Otsu"]
