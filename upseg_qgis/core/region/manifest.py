"""The work folder beside the output: the job, its windows, the finished windows and the tiles.

    <output stem>.region/
        lock            host, process id and start time of the run working on it (`locks`)
        gen<N>/         one generation: the job planned for one request
            manifest.json   the request's fingerprint, the resolved job and its window plan
            done.jsonl      one line per finished window, appended and synced as each finishes
            tiles/          one GeoTIFF per finished window (and its confidence)
            inputs/         the mosaics (VRTs) the windows read

Only the submitting process writes here (workers only write their own tile, atomically), so no
two writers meet. A line is appended only after its tile is in place, so a crash at any point
loses at most the windows that were running; a torn last line is ignored.

A rerun of the same request resumes the newest generation. Starting over (another request, or
a restart) plans a new generation beside the old one: a .vrt output reads the old one's tiles,
so it must stay whole until the new output is committed. Only a generation that is neither the
newest nor read by an output is removed (`remove_generations`, under the lock). Work folders of
earlier versions hold their job directly in `<output stem>.region/`: generation 0.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from collections.abc import Sequence
from contextlib import suppress
from dataclasses import asdict, dataclass
from pathlib import Path

from osgeo import gdal

from .. import locks
from ..raster.gdal_errors import RasterError, gdal_call
from .job import RegionJob
from .plan import RegionWindow

FORMAT = 1
_GENERATION = re.compile(r"^gen(\d+)$")
# A generation-0 job (earlier versions) lies directly in the root: these are its entries.
_LEGACY = ("manifest.json", "manifest.json.tmp", "done.jsonl", "tiles", "inputs")


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
    """One generation of the work folder of `output` (default: the newest, else a first)."""

    def __init__(self, output: str | Path, generation: int | None = None) -> None:
        out = Path(output)
        self.output = out
        self.root = out.with_name(out.stem + ".region")
        self.lock = self.root / "lock"
        if generation is None:
            found = self.generations()
            generation = found[-1] if found else 1
        self.generation = generation
        self.path = self.root / f"gen{generation}" if generation else self.root
        self.manifest = self.path / "manifest.json"
        self.done_log = self.path / "done.jsonl"
        self.tiles = self.path / "tiles"
        self.inputs = self.path / "inputs"

    def generations(self) -> list[int]:
        """The generations on disk, oldest first (finished, unfinished or half-planned)."""
        found = {0} if (self.root / "manifest.json").is_file() else set()
        with suppress(OSError):
            for p in self.root.iterdir():
                m = _GENERATION.match(p.name)
                if m and p.is_dir():
                    found.add(int(m.group(1)))
        return sorted(found)

    def next_generation(self) -> WorkFolder:
        """A new, empty generation after every one on disk (the old ones stay)."""
        return WorkFolder(self.output, max([*self.generations(), self.generation]) + 1)

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
        """The whole work folder: every generation, and the lock."""
        shutil.rmtree(self.root, ignore_errors=True)

    def remove_generations(self, keep: set[int]) -> list[int]:
        """Remove every generation not in `keep` (call with the lock held); returns them."""
        gone = [g for g in self.generations() if g not in keep]
        for g in gone:
            if g:
                shutil.rmtree(self.root / f"gen{g}", ignore_errors=True)
                continue
            for name in _LEGACY:
                p = self.root / name
                if p.is_dir():
                    shutil.rmtree(p, ignore_errors=True)
                else:
                    p.unlink(missing_ok=True)
        return gone

    def used_by(self, products: Sequence[Path]) -> set[int] | None:
        """The generations whose files the products read (a .vrt reads its tiles); None when
        a product cannot be read, so that nothing it might read is removed."""
        used: set[int] = set()
        root = self.root.resolve()
        for product in products:
            if product.suffix.lower() != ".vrt" or not product.exists():
                continue  # a GeoTIFF holds its pixels itself
            try:
                ds = gdal_call(f"Opening {product}", gdal.Open, str(product))
            except RasterError:
                return None
            for name in (ds.GetFileList() or [])[1:]:
                g = _generation_of(Path(name), root)
                if g is not None:
                    used.add(g)
            ds = None
        return used


def _generation_of(path: Path, root: Path) -> int | None:
    try:
        first = path.resolve().relative_to(root).parts[0]
    except (ValueError, IndexError, OSError):
        return None  # not in this work folder
    m = _GENERATION.match(first)
    return int(m.group(1)) if m else 0 if first in _LEGACY else None
