"""The work folder beside the output: the job, its windows, the finished windows and the tiles.

    <output stem>.region/
        manifest.json   the request's fingerprint, the resolved job and its window plan
        done.jsonl      one line per finished window, appended and synced as each finishes
        tiles/          one GeoTIFF per finished window (and its confidence)
        inputs/         the mosaics (VRTs) the windows read
        lock            host, process id and start time of the run working on it (`locks`)

Only the submitting process writes here (workers only write their own tile, atomically), so no
two writers meet. A line is appended only after its tile is in place, so a crash at any point
loses at most the windows that were running; a torn last line is ignored.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path

from .. import locks
from ..raster.gdal_errors import RasterError
from .job import RegionJob
from .plan import RegionWindow

FORMAT = 1


@dataclass
class WindowRecord:
    name: str
    tile: str | None  # relative to the work folder; None: no data anywhere in the window
    confidence: str | None = None
    seconds: float = 0.0
    worker: str = ""
    attempts: int = 1
    warnings: tuple[str, ...] = ()

    @property
    def empty(self) -> bool:
        return self.tile is None


class WorkFolder:
    def __init__(self, output: str | Path) -> None:
        out = Path(output)
        self.output = out
        self.path = out.with_name(out.stem + ".region")
        self.manifest = self.path / "manifest.json"
        self.done_log = self.path / "done.jsonl"
        self.tiles = self.path / "tiles"
        self.inputs = self.path / "inputs"
        self.lock = self.path / "lock"

    def exists(self) -> bool:
        return self.manifest.is_file()

    def load(self) -> tuple[str, RegionJob, list[RegionWindow]]:
        try:
            doc = json.loads(self.manifest.read_text(encoding="utf-8"))
            return (
                str(doc["fingerprint"]),
                RegionJob.from_json(doc["job"]),
                [RegionWindow.from_json(w) for w in doc["windows"]],
            )
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise RasterError(
                f"The work folder {self.path} has an unreadable manifest ({exc}). Delete the "
                "folder (or rerun with overwrite) to start the job over."
            ) from None

    def fingerprint(self) -> str | None:
        try:
            return str(json.loads(self.manifest.read_text(encoding="utf-8"))["fingerprint"])
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def create(self, fingerprint: str, job: RegionJob, windows: list[RegionWindow]) -> None:
        self.tiles.mkdir(parents=True, exist_ok=True)
        doc = {
            "format": FORMAT,
            "fingerprint": fingerprint,
            "output": str(self.output),
            "job": job.to_json(),
            "windows": [w.to_json() for w in windows],
        }
        tmp = self.manifest.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(doc, indent=1), encoding="utf-8")
        os.replace(tmp, self.manifest)
        self.done_log.unlink(missing_ok=True)

    def finished(self) -> dict[str, WindowRecord]:
        """Windows recorded as done whose tiles are still on disk."""
        out: dict[str, WindowRecord] = {}
        try:
            lines = self.done_log.read_text(encoding="utf-8").splitlines()
        except FileNotFoundError:
            return out
        for line in lines:
            try:
                d = json.loads(line)
                rec = WindowRecord(**{**d, "warnings": tuple(d.get("warnings", ()))})
            except (ValueError, TypeError):
                continue  # a line torn by a crash: that window is done again
            if rec.tile is None or (self.path / rec.tile).is_file():
                out[rec.name] = rec
        return out

    def record(self, rec: WindowRecord) -> None:
        with open(self.done_log, "a", encoding="utf-8") as f:
            f.write(json.dumps(asdict(rec)) + "\n")
            f.flush()
            os.fsync(f.fileno())

    def take_lock(self) -> None:
        """One run per job at a time (`locks`: a dead process's lock on this host is taken)."""
        try:
            locks.acquire(self.lock)
        except locks.LockHeldError as held:
            raise RasterError(f"Another run is working on {self.output}. {held}") from None

    def release_lock(self) -> None:
        locks.release(self.lock)

    def remove_strays(self, keep: set[str]) -> int:
        """Delete files in tiles/ that no finished window owns (left by killed workers)."""
        n = 0
        for p in self.tiles.glob("*"):
            if f"tiles/{p.name}" not in keep and p.is_file():
                p.unlink(missing_ok=True)
                n += 1
        return n

    def remove(self) -> None:
        shutil.rmtree(self.path, ignore_errors=True)
