"""`upseg:evaluate` and its QGIS-free core: a confusion matrix computed by hand, streaming,
class mapping, nodata, on-the-fly alignment of a reference in another CRS, agreement with the
training side's evaluate, and the algorithm through processing.run and qgis_process."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from osgeo import gdal, osr

from upseg_qgis.core.accuracy import metrics
from upseg_qgis.core.accuracy.evaluation import (
    EvaluationError,
    StreamingConfusion,
    evaluate_rasters,
    mapping_from_table,
    parse_class_mapping,
)
from upseg_qgis.core.contract.metadata import ClassInfo
from upseg_qgis.core.raster.styling import write_qml

gdal.UseExceptions()

# Hand-computed case (rows: reference, columns: prediction; 255 ignored).
REF = np.array([[0, 0, 1], [1, 2, 2], [2, 255, 0]])
PRED = np.array([[0, 1, 1], [1, 2, 0], [2, 2, 0]])
CM = np.array([[2, 1, 0], [0, 2, 0], [1, 0, 2]])
OA = 6 / 8
MPA = (2 / 3 + 1 + 2 / 3) / 3
MIOU = (2 / 4 + 2 / 3 + 2 / 3) / 3  # TP / (R + P - TP): 2/(3+3-2), 2/(2+3-2), 2/(3+2-2)
KAPPA = (6 / 8 - 21 / 64) / (1 - 21 / 64)  # p_e = (3*3 + 2*3 + 3*2) / 64
F1 = [2 * 2 / 6, 2 * 2 / 5, 2 * 2 / 5]


def write_tif(path: Path, array: np.ndarray, *, epsg: int = 32630,
              origin: tuple[float, float] = (500000.0, 4400000.0), pixel: float = 10.0,
              nodata: float | None = None, dtype: int = gdal.GDT_Int16,
              categories: list[str] | None = None) -> str:
    h, w = array.shape
    ds = gdal.GetDriverByName("GTiff").Create(str(path), w, h, 1, dtype)
    ds.SetGeoTransform((origin[0], pixel, 0, origin[1], 0, -pixel))
    srs = osr.SpatialReference()
    srs.ImportFromEPSG(epsg)
    ds.SetProjection(srs.ExportToWkt())
    band = ds.GetRasterBand(1)
    if nodata is not None:
        band.SetNoDataValue(nodata)
    band.WriteArray(array)
    ds = None
    if categories:  # as upseg:segment styles its output: a .qml next to the raster
        write_qml(path, [ClassInfo(i, n, "#102030") for i, n in enumerate(categories)])
    return str(path)


def test_hand_computed_confusion_matrix_streamed_row_by_row(tmp_path: Path) -> None:
    # The reference codes classes 10/20/30 (mapped onto 0/1/2); one row per block.
    ref = np.where(REF == 255, 255, (REF + 1) * 10)
    pred_path = write_tif(tmp_path / "pred.tif", PRED, dtype=gdal.GDT_Byte,
                          categories=["land", "water", "cloud"])
    ref_path = write_tif(tmp_path / "ref.tif", ref)
    result = evaluate_rasters(pred_path, ref_path, mapping={10: 0, 20: 1, 30: 2},
                              ignore_value=255, block_pixels=3)
    m = result.metrics
    assert result.values == [0, 1, 2]
    np.testing.assert_array_equal(m["confusion_matrix"], CM)
    assert m["class_names"] == ["land", "water", "cloud"]
    assert result.evaluated_pixels == 8 and result.ignored_pixels == 1
    assert m["oa"] == pytest.approx(OA)
    assert m["mpa"] == pytest.approx(MPA)
    assert m["miou"] == pytest.approx(MIOU)
    assert m["kappa"] == pytest.approx(KAPPA)
    np.testing.assert_allclose(m["f1"], F1)
    assert result.f1_per_class() == pytest.approx({"land (0)": F1[0], "water (1)": F1[1],
                                                   "cloud (2)": F1[2]})
    assert "same grid" in result.alignment


def test_streaming_equals_the_training_side_metrics_on_the_whole_array() -> None:
    rng = np.random.default_rng(7)
    ref = rng.integers(0, 4, (97, 61))
    pred = np.where(rng.random(ref.shape) < 0.7, ref, rng.integers(0, 4, ref.shape))
    ref[rng.random(ref.shape) < 0.05] = 255
    whole = metrics.ConfusionMatrix(4, ignore_index=255).update(ref, pred).compute()
    stream = StreamingConfusion(ignore_value=255)
    for y in range(0, ref.shape[0], 10):  # blocks that bring classes in any order
        stream.update(ref[y:y + 10], pred[y:y + 10])
    ours = stream.metrics()
    np.testing.assert_array_equal(ours["confusion_matrix"], whole["confusion_matrix"])
    for key in ("oa", "mpa", "miou", "fwiou", "kappa", "mf1"):
        assert ours[key] == pytest.approx(whole[key]), key


def test_agrees_with_the_training_side_evaluate_model() -> None:
    torch = pytest.importorskip("torch")
    from model_export.evaluation.evaluate import evaluate_model

    rng = np.random.default_rng(3)
    labels = rng.integers(0, 3, (2, 16, 16))
    preds = np.where(rng.random(labels.shape) < 0.6, labels, rng.integers(0, 3, labels.shape))
    labels[:, :2] = 255

    class Fixed(torch.nn.Module):  # logits whose argmax is `preds`
        def forward(self, optical, sar):  # noqa: ANN001, ANN201
            return torch.nn.functional.one_hot(torch.from_numpy(preds), 3).permute(
                0, 3, 1, 2).float()

    loader = [(torch.zeros(2, 3, 16, 16), torch.zeros(2, 2, 16, 16), torch.from_numpy(labels))]
    train_side = evaluate_model(Fixed(), loader, 3, ignore_index=255)
    stream = StreamingConfusion(ignore_value=255)
    stream.update(labels, preds)
    ours = stream.metrics()
    np.testing.assert_array_equal(ours["confusion_matrix"], train_side["confusion_matrix"])
    for key in ("oa", "mpa", "miou", "fwiou", "kappa", "mf1"):
        assert ours[key] == pytest.approx(train_side[key]), key


def test_nodata_of_either_raster_and_ignore_value_are_skipped(tmp_path: Path) -> None:
    pred = np.array([[1, 1, 9], [0, 0, 1]])
    ref = np.array([[1, -1, 1], [0, 1, 5]])
    pred_path = write_tif(tmp_path / "p.tif", pred, nodata=9)
    ref_path = write_tif(tmp_path / "r.tif", ref, nodata=-1)
    result = evaluate_rasters(pred_path, ref_path, ignore_value=5)
    # Left: (1,1), (0,0), (1,0): pixels 2 (ref nodata), 3 (pred nodata), 6 (ignored) go.
    assert result.evaluated_pixels == 3 and result.ignored_pixels == 3
    np.testing.assert_array_equal(result.metrics["confusion_matrix"], [[1, 0], [1, 1]])
    # Mapping a value onto the ignore value ignores it too.
    mapped = evaluate_rasters(pred_path, ref_path, mapping={0: 5}, ignore_value=5)
    assert mapped.evaluated_pixels == 2


def test_coarser_reference_with_partial_overlap_is_aligned_by_nearest(tmp_path: Path) -> None:
    pred = np.kron(np.array([[0, 1], [1, 2]]), np.ones((2, 2), int))  # 4x4 of 10 m
    coarse = np.array([[0], [1]])  # 20 m pixels, covers only the left half
    pred_path = write_tif(tmp_path / "p.tif", pred)
    ref_path = write_tif(tmp_path / "r.tif", coarse, pixel=20.0)
    result = evaluate_rasters(pred_path, ref_path)
    assert "warped" in result.alignment
    assert result.evaluated_pixels == 8  # the right half lies outside the reference
    assert result.metrics["oa"] == 1.0


def test_reference_in_another_crs_real_label(shared_data: Path, tmp_path: Path) -> None:
    label = str(shared_data / "sen1floods11_sample" / "Spain_7370579_LabelHand.tif")
    utm = str(tmp_path / "label_utm.tif")
    gdal.Warp(utm, label, dstSRS="EPSG:32630", xRes=10, yRes=10, resampleAlg="near",
              srcNodata=-1, dstNodata=-1)
    # The label declares no nodata; -1 is its "no data": declare it on the prediction side.
    pred = str(tmp_path / "label_nodata.vrt")
    gdal.Translate(pred, label, format="VRT", noData=-1)
    result = evaluate_rasters(pred, utm, ignore_value=-1)
    assert "warped" in result.alignment
    assert result.values == [0, 1]
    # Nearest neighbour there and back moves only boundary pixels. Measured: OA 0.988, 99.9 %
    # of the pixels evaluated; the limits leave a margin of about twice the loss seen.
    assert result.metrics["oa"] > 0.97
    assert result.evaluated_pixels > 0.95 * 512 * 512


def test_no_common_pixel_is_a_clear_error(tmp_path: Path) -> None:
    pred_path = write_tif(tmp_path / "p.tif", np.zeros((4, 4), int))
    far = write_tif(tmp_path / "r.tif", np.zeros((4, 4), int), origin=(700000.0, 4400000.0))
    with pytest.raises(EvaluationError, match="No pixel is valid"):
        evaluate_rasters(pred_path, far)


def test_class_mapping_parsing() -> None:
    assert parse_class_mapping("10:1, 20:2;30->3\n40=4") == {10: 1, 20: 2, 30: 3, 40: 4}
    assert parse_class_mapping("-1:255") == {-1: 255}
    assert parse_class_mapping("  ") == {}
    with pytest.raises(EvaluationError, match="reference value:predicted value"):
        parse_class_mapping("10 to 1")
    with pytest.raises(EvaluationError, match="twice"):
        parse_class_mapping("10:1, 10:2")
    assert mapping_from_table([10, 1, 20.0, 2.0]) == {10: 1, 20: 2}
    assert mapping_from_table([None]) == {} and mapping_from_table(None) == {}
    with pytest.raises(EvaluationError, match="integer"):
        mapping_from_table([1.5, 1])


def _hand_rasters(tmp_path: Path) -> tuple[str, str]:
    ref = np.where(REF == 255, 255, (REF + 1) * 10)
    pred_path = write_tif(tmp_path / "pred.tif", PRED, dtype=gdal.GDT_Byte,
                          categories=["land", "water", "cloud"])
    return pred_path, write_tif(tmp_path / "ref.tif", ref)


def test_evaluate_algorithm_outputs(upseg_provider, tmp_path: Path) -> None:
    import processing
    from qgis.core import QgsVectorLayer

    pred_path, ref_path = _hand_rasters(tmp_path)
    html = tmp_path / "report.html"
    result = processing.run("upseg:evaluate", {
        "PREDICTION": pred_path, "REFERENCE": ref_path, "CLASS_MAPPING": "10:0, 20:1",
        "CLASS_MAPPING_TABLE": [30, 2], "IGNORE_VALUE": 255,
        "OUTPUT": str(tmp_path / "cm.gpkg"), "OUTPUT_HTML": str(html)})
    assert result["OA"] == pytest.approx(OA)
    assert result["MPA"] == pytest.approx(MPA)
    assert result["MIOU"] == pytest.approx(MIOU)
    assert result["KAPPA"] == pytest.approx(KAPPA)
    assert result["EVALUATED_PIXELS"] == 8
    assert json.loads(result["F1_PER_CLASS"]) == pytest.approx(
        {"land (0)": F1[0], "water (1)": F1[1], "cloud (2)": F1[2]})
    assert json.loads(result["METRICS_JSON"])["confusion_matrix"] == CM.tolist()
    table = QgsVectorLayer(result["OUTPUT"], "cm", "ogr")
    assert table.isValid() and not table.isSpatial()
    rows = {f["ref_name"]: f for f in table.getFeatures()}
    assert set(rows) == {"land", "water", "cloud", "(predicted total)"}
    assert [rows["land"][f"pred_{v}"] for v in range(3)] == CM[0].tolist()
    assert rows["cloud"]["pa"] == pytest.approx(2 / 3)
    assert rows["(predicted total)"]["total"] == 8
    text = html.read_text(encoding="utf-8")
    assert "75.00" in text and "water" in text and "10&rarr;0" in text


def test_evaluate_algorithm_rejects_conflicting_mappings(upseg_provider, tmp_path: Path) -> None:
    import processing
    from qgis.core import QgsProcessingException

    pred_path, ref_path = _hand_rasters(tmp_path)
    with pytest.raises(QgsProcessingException, match="mapped to 0 in the text and to 1"):
        processing.run("upseg:evaluate", {
            "PREDICTION": pred_path, "REFERENCE": ref_path, "CLASS_MAPPING": "10:0",
            "CLASS_MAPPING_TABLE": [10, 1], "OUTPUT": "TEMPORARY_OUTPUT"})


def test_evaluate_headless_in_qgis_process(qgis_process, tmp_path: Path) -> None:
    pred_path, ref_path = _hand_rasters(tmp_path)
    res = qgis_process("run", "upseg:evaluate", "--json", "--",
                       f"PREDICTION={pred_path}", f"REFERENCE={ref_path}",
                       "CLASS_MAPPING=10:0,20:1,30:2", "IGNORE_VALUE=255",
                       f"OUTPUT={tmp_path / 'cm.csv'}", f"OUTPUT_HTML={tmp_path / 'r.html'}")
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-2000:]
    results = json.loads(res.stdout[res.stdout.index("{"):])["results"]
    assert math.isclose(results["KAPPA"], KAPPA, rel_tol=1e-9)
    assert math.isclose(results["OA"], OA, rel_tol=1e-9)
    assert (tmp_path / "r.html").is_file()
    csv = (tmp_path / "cm.csv").read_text(encoding="utf-8").splitlines()
    assert csv[0].startswith("reference,ref_name,pred_0,pred_1,pred_2,total")
    assert len(csv) == 5


def test_class_names_from_gdal_category_names(tmp_path: Path) -> None:
    from upseg_qgis.core.accuracy.evaluation import raster_class_names

    tif = write_tif(tmp_path / "c.tif", np.zeros((2, 2), int), dtype=gdal.GDT_Byte)
    vrt = str(tmp_path / "c.vrt")  # a VRT keeps category names in the file (no .aux.xml)
    ds = gdal.Translate(vrt, tif, format="VRT")
    ds.GetRasterBand(1).SetCategoryNames(["not water", "", "water"])
    ds = None
    assert raster_class_names(vrt) == {0: "not water", 2: "water"}


def test_qml_names_read_from_qgis_styles_but_never_from_inline_dtds(tmp_path: Path) -> None:
    """QGIS (and styling.write_qml) writes a bare DOCTYPE line: read. An inline DTD with
    entities (a "billion laughs" file) is refused without expanding anything."""
    from upseg_qgis.core.accuracy.evaluation import qml_class_names

    write_qml(tmp_path / "a.tif", [ClassInfo(0, "land", "#102030"),
                                   ClassInfo(1, "water", "#0000ff")])
    assert qml_class_names(str(tmp_path / "a.tif")) == {0: "land", 1: "water"}
    (tmp_path / "b.qml").write_text(
        '<?xml version="1.0"?><!DOCTYPE qgis [<!ENTITY a "aaaaaaaaaa">'
        '<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]>'
        '<qgis><paletteEntry value="1" label="&b;"/></qgis>')
    assert qml_class_names(str(tmp_path / "b.tif")) == {}
