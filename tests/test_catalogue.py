"""The catalogue format: the shipped catalogue, the validator vs the JSON schema, URL resolution,
id lookup, the tools that write entries from a model file, and reading ONNX metadata without
ONNX Runtime."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from upseg_qgis.core.contract.onnx_props import (
    OnnxFileError,
    read_metadata_props,
    read_model_metadata,
)
from upseg_qgis.core.engine.session import DEFAULT_MODEL
from upseg_qgis.core.models.catalogue import (
    SCHEMA_PATH,
    CatalogueError,
    find_entry,
    local_path,
    parse_catalogue,
)
from upseg_qgis.core.models.catalogue_tools import main as tools_main
from upseg_qgis.core.models.catalogue_tools import summary_differences
from upseg_qgis.core.models.checksum import sha256_file
from upseg_qgis.core.models.store import SHIPPED_CATALOGUE, shipped_catalogue


def _shipped() -> dict[str, Any]:
    return json.loads(SHIPPED_CATALOGUE.read_text(encoding="utf-8"))


def _user_catalogue() -> dict[str, Any]:
    """The shipped catalogue as a team would write it (not embedded, one URL)."""
    data = _shipped()
    entry = data["models"][0]
    entry.pop("embedded")
    entry["id"] = "team-water"
    entry["file_name"] = "team-water.onnx"
    return data


def test_shipped_catalogue_describes_the_embedded_model() -> None:
    cat = shipped_catalogue()
    (entry,) = [e for e in cat.entries if e.embedded]
    assert entry.file_name == DEFAULT_MODEL.name
    assert entry.size == DEFAULT_MODEL.stat().st_size
    assert entry.sha256 == sha256_file(DEFAULT_MODEL)
    # The summary a user browses is the file's own metadata (which rules at run time).
    assert summary_differences(entry, read_model_metadata(DEFAULT_MODEL)) == []
    # Each mirror serves this very file (the URLs' hosts are not known yet: no pin on them).
    assert entry.urls and all(u.startswith("https://") and u.endswith(f"/{entry.file_name}")
                              for u in entry.urls)


def test_shipped_catalogue_matches_the_schema() -> None:
    jsonschema = pytest.importorskip("jsonschema")
    jsonschema.validate(_shipped(), json.loads(SCHEMA_PATH.read_text()))
    jsonschema.validate(_user_catalogue(), json.loads(SCHEMA_PATH.read_text()))


def _set(path: str, value: Any) -> Any:
    def mutate(data: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        node: Any = data["models"][0]
        for p in parents:
            node = node[int(p)] if p.isdigit() else node[p]
        if value is KeyError:
            del node[last]
        else:
            node[last] = value
    return mutate


@pytest.mark.parametrize(("mutate", "fragment"), [
    (_set("sha256", KeyError), "'models[0].sha256' is missing"),
    (_set("sha256", "abc"), "64 hexadecimal"),
    (_set("sha256", "md5:" + "0" * 64), "64 hexadecimal"),
    (_set("id", "Has Spaces"), "lower-case"),
    (_set("size", 0), "integer > 0"),
    (_set("urls", []), "at least one URL"),
    (_set("classes.0.colour", "blue"), "#rrggbb"),
    (_set("inputs.sar.units", "volts"), "must be one of"),
    (_set("file_name", "../evil.onnx"), "plain file name"),
    (_set("licence", KeyError), "licence' is missing"),
])
def test_invalid_entries_are_rejected_by_parser_and_schema(mutate: Any, fragment: str) -> None:
    jsonschema = pytest.importorskip("jsonschema")
    data = _user_catalogue()
    mutate(data)
    with pytest.raises(CatalogueError, match=fragment.replace("[", r"\[").replace("]", r"\]")):
        parse_catalogue(copy.deepcopy(data), "team.json")
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(data, json.loads(SCHEMA_PATH.read_text()))


def test_catalogue_level_errors_say_what_to_do() -> None:
    with pytest.raises(CatalogueError, match="team.json is not valid JSON"):
        parse_catalogue("{nope", "team.json")
    data = _user_catalogue()
    data["catalogue_version"] = 7
    with pytest.raises(CatalogueError, match="version 7.*Update the UPSeg plugin"):
        parse_catalogue(data, "team.json")
    data = _user_catalogue()
    data["models"].append(copy.deepcopy(data["models"][0]))
    version = data["models"][0]["version"]
    with pytest.raises(CatalogueError, match=f"team-water@{version} more than once"):
        parse_catalogue(data, "team.json")
    with pytest.raises(CatalogueError, match="only allowed in the plugin's own catalogue"):
        parse_catalogue(_shipped(), "team.json")


def test_relative_urls_are_relative_to_the_catalogue(tmp_path: Path) -> None:
    data = _user_catalogue()
    data["models"][0]["urls"] = ["models/team-water.onnx", "https://mirror.example/x.onnx"]
    local = parse_catalogue(data, str(tmp_path / "share" / "team.json")).entries[0]
    assert local.urls == (str(tmp_path / "share" / "models" / "team-water.onnx"),
                          "https://mirror.example/x.onnx")
    assert local_path(local.urls[0]) == tmp_path / "share" / "models" / "team-water.onnx"
    assert local_path(local.urls[1]) is None
    remote = parse_catalogue(data, "https://models.example.org/team/cat.json").entries[0]
    assert remote.urls[0] == "https://models.example.org/team/models/team-water.onnx"
    assert local_path("file:///data/m.onnx") == Path("/data/m.onnx")


def test_find_entry_by_id_and_version() -> None:
    data = _user_catalogue()
    old = copy.deepcopy(data["models"][0])
    old["version"] = "0.9.0"
    newer = copy.deepcopy(data["models"][0])
    newer["version"] = "0.10.0"  # numerically newer than 0.9.0, not as text
    data["models"] += [old, newer]
    cats = [parse_catalogue(data, "team.json"), shipped_catalogue()]
    assert find_entry(cats, "team-water").version == "0.10.0"
    assert find_entry(cats, "team-water@0.9.0").version == "0.9.0"
    assert find_entry(cats, "team-water@9") is None
    assert find_entry(cats, "upseg-tiny-ombria-water").embedded


def test_tools_add_and_validate(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    model = tmp_path / "models" / "water.onnx"
    model.parent.mkdir()
    model.write_bytes(DEFAULT_MODEL.read_bytes())
    cat = tmp_path / "team.json"
    assert tools_main(["add", str(cat), str(model), "--id", "team-water",
                       "--url", "models/water.onnx"]) == 0
    entry = parse_catalogue(cat.read_bytes(), str(cat)).entries[0]
    assert (entry.id, entry.size, entry.sha256) == ("team-water", model.stat().st_size,
                                                    sha256_file(model))
    assert [c.name for c in entry.classes] == ["not water", "water"]
    test = read_model_metadata(DEFAULT_MODEL).training["test_metrics"]
    assert entry.metrics["miou"] == pytest.approx(test["miou"], abs=1e-6)
    assert tools_main(["validate", str(cat), "--check-files"]) == 0
    model.write_bytes(model.read_bytes() + b"\0")  # the file changed after publishing
    assert tools_main(["validate", str(cat), "--check-files"]) == 1
    assert "another size or SHA-256" in capsys.readouterr().err
    assert tools_main(["add", str(cat), str(tmp_path / "missing.onnx"), "--id", "x1",
                       "--url", "u"]) == 1


def test_onnx_metadata_without_onnxruntime(tmp_path: Path) -> None:
    onnx = pytest.importorskip("onnx")
    expected = {p.key: p.value for p in onnx.load(str(DEFAULT_MODEL)).metadata_props}
    assert read_metadata_props(DEFAULT_MODEL) == expected
    bad = tmp_path / "not_a_model.onnx"
    bad.write_bytes(b"\xff" * 64)
    with pytest.raises(OnnxFileError, match="not an ONNX model"):
        read_metadata_props(bad)
    cut = tmp_path / "truncated.onnx"
    cut.write_bytes(DEFAULT_MODEL.read_bytes()[:5000])
    with pytest.raises(OnnxFileError, match="not an ONNX model"):
        read_metadata_props(cut)


def test_pre_releases_sort_below_their_release() -> None:
    from upseg_qgis.core.models.catalogue import newest, version_key

    data = _user_catalogue()
    entries = []
    for v in ("0.2.0-rc1", "0.2.0", "0.1.9", "0.2.0b2"):
        e = copy.deepcopy(data["models"][0])
        e["version"] = v
        entries.append(e)
    data["models"] = entries
    assert newest(list(parse_catalogue(data, "team.json").entries)).version == "0.2.0"
    order = ["0.1.9", "0.2.0.dev1", "0.2.0b2", "0.2.0-rc1", "0.2.0", "0.2.0+local", "0.10.0"]
    assert sorted(reversed(order), key=version_key) == order


def test_plain_http_catalogues_are_refused_without_a_request(tmp_path: Path) -> None:
    from upseg_qgis.core.models.store import StoreConfig, load_catalogues

    asked: list[str] = []

    class Transport:
        def get(self, url: str, *args: Any, **kwargs: Any) -> Any:
            asked.append(url)
            raise AssertionError("no request may be made")

    cats = load_catalogues(StoreConfig(tmp_path, catalogues=("http://models.example.org/c.json",)),
                           transport=Transport(), refresh=True)
    assert asked == [] and len(cats.problems) == 1
    assert "plain http" in cats.problems[0] and "https" in cats.problems[0]


def test_a_catalogue_reusing_the_embedded_id_is_announced(tmp_path: Path) -> None:
    from upseg_qgis.core.models.store import StoreConfig, load_catalogues

    data = _user_catalogue()
    data["models"][0]["id"] = _shipped()["models"][0]["id"]
    path = tmp_path / "team.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    said: list[str] = []
    cats = load_catalogues(StoreConfig(tmp_path, catalogues=(str(path),)), warn=said.append)
    assert cats.problems == [] and len(said) == 1
    assert _shipped()["models"][0]["id"] in said[0] and "embedded" in said[0]
    said.clear()
    load_catalogues(StoreConfig(tmp_path, catalogues=()), warn=said.append)
    assert said == []
