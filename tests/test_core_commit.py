"""All outputs of a run committed together or not at all; partial files of dead runs removed."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.toy_model import build_toy_model, geographic_scene
from upseg_qgis.core.raster import commit
from upseg_qgis.core.raster.gdal_errors import RasterError
from upseg_qgis.core.run.pipeline import Reporter, RuntimeOptions, output_exists, segment


@pytest.fixture(scope="module")
def scene(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("commit")
    opt, sar = geographic_scene(d, width=40, height=30)
    return {"optical": opt, "sar": sar, "model": build_toy_model(d / "toy.onnx")}


def _failing_replace(monkeypatch: pytest.MonkeyPatch, fail_at: int) -> list[tuple[str, str]]:
    """os.replace that fails at its `fail_at`-th call (1-based); returns the calls made."""
    calls: list[tuple[str, str]] = []
    real = os.replace

    def replace(src: object, dst: object) -> None:
        calls.append((str(src), str(dst)))
        if len(calls) == fail_at:
            raise OSError(28, "No space left on device (simulated)")
        real(src, dst)

    monkeypatch.setattr(os, "replace", replace)
    return calls


def test_commit_together_puts_everything_back_on_failure(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    finals = [tmp_path / n for n in ("a.tif", "a.tif.aux.xml", "a.qml")]
    for f in finals[:2]:
        f.write_text(f"old {f.name}")
    tag = commit.run_tag()
    tmps = [commit.partial_path(f, tag, ".x" + str(i)) for i, f in enumerate(finals)]
    for t in tmps:
        t.write_text(f"new {t.name}")
    calls = _failing_replace(monkeypatch, fail_at=4)  # the journal, 2 new files, the 3rd fails
    with pytest.raises(RasterError, match="keeps what it held before"):
        commit.commit_together(list(zip(tmps, finals, strict=True)), tag)
    assert len(calls) >= 4
    assert [f.read_text() for f in finals[:2]] == ["old a.tif", "old a.tif.aux.xml"]
    assert not finals[2].exists()  # it did not exist before either
    assert all(t.exists() for t in tmps)  # the caller removes them
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        [f.name for f in finals[:2]] + [t.name for t in tmps])  # no backups left over


def test_a_run_commits_all_its_outputs_or_none(
    scene: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out, conf = tmp_path / "out.tif", tmp_path / "conf.tif"
    old = {out: "old classes", Path(str(out) + ".aux.xml"): "old aux",
           out.with_suffix(".qml"): "old style", conf: "old confidence",
           Path(str(conf) + ".aux.xml"): "old confidence aux"}
    for path, text in old.items():
        path.write_text(text)
    run = {"model": str(scene["model"]), "confidence": str(conf),
           "runtime": RuntimeOptions(device="cpu")}
    _failing_replace(monkeypatch, fail_at=3)  # the journal, the class raster, then fail
    with pytest.raises(RasterError, match="keeps what it held before"):
        segment(str(scene["optical"]), str(scene["sar"]), str(out), **run)
    assert {p: p.read_text() for p in old} == old
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(p.name for p in old)
    monkeypatch.undo()
    r = segment(str(scene["optical"]), str(scene["sar"]), str(out), **run)
    written = sorted(p.name for p in tmp_path.iterdir())
    # The old confidence .aux.xml described old data: gone, as the new run writes none.
    assert written == ["conf.tif", "out.qml", "out.tif", "out.tif.aux.xml"]
    assert out.stat().st_size > 100 and Path(r.qml).read_text().startswith("<!DOCTYPE qgis")


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_partial_files_of_dead_runs_are_removed(scene: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "out.tif"
    host = commit.run_tag().split("-")[0]
    dead = [tmp_path / f"out.{host}-{_dead_pid()}-abc123.partial.tif",
            tmp_path / f"out.{host}-{_dead_pid()}-abc123.partial.tif.aux.xml"]
    alive = tmp_path / f"out.{host}-{os.getpid()}-def456.partial.tif"  # this very process
    other_host = tmp_path / f"out.000000-{_dead_pid()}-abc123.partial.tif"
    old_style, recent_old_style = tmp_path / "out.0badc0de.partial.tif", \
        tmp_path / "out.1badc0de.partial.tif"
    other_output = tmp_path / f"other.{host}-{_dead_pid()}-abc123.partial.tif"
    for p in (*dead, alive, other_host, old_style, recent_old_style, other_output):
        p.write_bytes(b"17 MB of confidence, say")
    day_ago = time.time() - 2 * commit.UNOWNED_PARTIAL_MAX_AGE_S
    os.utime(old_style, (day_ago, day_ago))
    said: list[str] = []
    segment(str(scene["optical"]), str(scene["sar"]), str(out), model=str(scene["model"]),
            runtime=RuntimeOptions(device="cpu"), report=Reporter(info=said.append))
    assert not any(p.exists() for p in (*dead, old_style))
    assert all(p.exists() for p in (alive, other_host, recent_old_style, other_output))
    assert any("interrupted earlier run" in m and dead[0].name in m for m in said)
    assert output_exists(out)


_KILL_CHILD = r"""
import json, os, sys
from pathlib import Path
from upseg_qgis.core.raster import commit

spec = json.loads(sys.argv[1])
left = [spec["k"]]

def killing(fn):
    def wrapped(*args, **kwargs):
        out = fn(*args, **kwargs)
        left[0] -= 1
        if left[0] <= 0:
            os._exit(3)  # killed right after this filesystem step, no cleanup of any kind
        return out
    return wrapped

for name in ("replace", "rename", "link", "unlink", "remove"):
    setattr(os, name, killing(getattr(os, name)))
if spec["k"] == 0:
    os._exit(3)
pairs = [(None if t is None else Path(t), Path(f)) for t, f in spec["pairs"]]
commit.commit_together(pairs, spec["tag"])
"""


def _crash_scene(d: Path) -> tuple[dict[Path, str], dict[Path, str], list, str]:
    """Old result: classes, aux, confidence + its aux; new: classes, aux, qml, confidence."""
    sub = d / "sub"
    sub.mkdir(parents=True)
    a, aux, qml = d / "a.tif", d / "a.tif.aux.xml", d / "a.qml"
    conf, conf_aux = sub / "conf.tif", sub / "conf.tif.aux.xml"
    old = {a: "old a", aux: "old aux", conf: "old conf", conf_aux: "old conf aux"}
    new = {a: "new a", aux: "new aux", qml: "new qml", conf: "new conf"}
    for p, text in old.items():
        p.write_text(text)
    # The files belong to a run that is gone by the time the next run looks at them.
    tag = f"{commit.run_tag().split('-')[0]}-{_dead_pid()}-abc123"
    pairs = []
    for final in (a, aux, qml, conf, conf_aux):
        tmp = commit.partial_path(final, tag)
        if final in new:
            tmp.write_text(new[final])
        pairs.append([str(tmp) if final in new else None, str(final)])
    return old, new, pairs, tag


def _on_disk(d: Path) -> dict[Path, str]:
    return {p: p.read_text() for p in d.rglob("*") if p.is_file()}


def test_a_commit_killed_at_any_step_leaves_the_old_or_the_new_result(tmp_path: Path) -> None:
    """Killed after each filesystem step: every final path keeps a file, and the next run's
    cleanup completes the old or the new set (never deletes the only copy of the old one)."""
    root = Path(__file__).resolve().parents[1]
    outcomes = []
    for k in range(40):
        d = tmp_path / f"k{k}"
        old, new, pairs, tag = _crash_scene(d)
        spec = {"k": k, "pairs": pairs, "tag": tag}
        rc = subprocess.run([sys.executable, "-c", _KILL_CHILD, json.dumps(spec)],
                            cwd=root, capture_output=True, text=True, timeout=60)
        assert rc.returncode in (0, 3), rc.stderr
        for final in set(old) & set(new):
            assert final.exists(), f"killed after step {k}: {final.name} missing"
        # The next run: cleanup of the confidence first (the harder order), then the classes.
        for final in (d / "sub" / "conf.tif", d / "a.tif"):
            commit.remove_stale_partials(final)
        got = _on_disk(d)
        assert got in (old, new), f"killed after step {k}: {got}"
        outcomes.append(got == new)
        if rc.returncode == 0:
            break
    assert rc.returncode == 0 and outcomes[-1] and not outcomes[0]


def test_a_commit_waits_for_no_one_else_saving_the_same_output(tmp_path: Path) -> None:
    """Two runs saving one output at once would interleave their files: the second is refused."""
    final = tmp_path / "a.tif"
    final.write_text("old a")
    tag = commit.run_tag()
    tmp = commit.partial_path(final, tag)
    tmp.write_text("new a")
    holder = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        lock = final.with_name(final.name + ".commit.lock")
        lock.write_text(json.dumps({"host": socket.gethostname(), "pid": holder.pid}))
        with pytest.raises(RasterError, match=f"Another run is saving.*process {holder.pid}"):
            commit.commit_together([(tmp, final)], tag)
        assert final.read_text() == "old a" and tmp.exists()
    finally:
        holder.kill()
        holder.wait()
    commit.commit_together([(tmp, final)], tag)  # the holder is gone: its lock is taken over
    assert final.read_text() == "new a" and sorted(p.name for p in tmp_path.iterdir()) == ["a.tif"]
