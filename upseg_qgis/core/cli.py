"""Command line for the inference core, without QGIS (and without torch).

    python -m upseg_qgis.core.cli segment --optical S2.tif --sar S1.tif --output water.tif
    python -m upseg_qgis.core.cli region --optical s2_scenes/ --sar s1_scenes/ \\
        --output region.tif [--scheduler local | tcp://host:8786]

`segment` is upseg:segment (one optical + one SAR layer). `region` takes lists of scenes, folders
and VRT mosaics, an optional output grid, and runs the job window by window, in this process or
on a Dask cluster; rerun the same command after a crash or Ctrl+C to finish only what is
missing. Messages go to stderr; `--json` prints the result as JSON on stdout. Exit status: 0 done,
1 error (the message says what to do), 2 bad arguments, 130 interrupted.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from dataclasses import asdict
from typing import Any

from .contract.metadata import INPUT_UNITS
from .engine.session import DEVICES

UNITS = ("auto", *INPUT_UNITS)


def _bands(text: str) -> list[int]:
    try:
        bands = [int(b) for b in text.replace(",", " ").split()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"band numbers like 4,3,2, not '{text}'") from None
    if not bands:
        raise argparse.ArgumentTypeError("give at least one band number")
    return bands


def _common(p: argparse.ArgumentParser) -> None:
    """The options of upseg:segment, same names in lower case."""
    p.add_argument("--output", required=True, help="class raster (.tif; region: .tif or .vrt)")
    p.add_argument("--confidence", help="optional max class probability raster (float32)")
    p.add_argument("--model", help="UPSeg .onnx file (default: the embedded model)")
    p.add_argument("--optical-bands", type=_bands, help="band numbers in the model's order")
    p.add_argument("--sar-bands", type=_bands, help="band numbers in the model's order")
    p.add_argument("--optical-units", choices=UNITS, default="auto")
    p.add_argument("--sar-units", choices=UNITS, default="auto")
    p.add_argument("--extent", type=float, nargs=4, metavar=("XMIN", "YMIN", "XMAX", "YMAX"),
                   help="segment: in the optical layer's CRS; region: in the output CRS")
    p.add_argument("--tile-size", type=int, help="default: from the model")
    p.add_argument("--overlap", type=int, help="default: from the model")
    p.add_argument("--batch-size", type=int, help="default: from the model / the device")
    p.add_argument("--device", choices=DEVICES, default="auto")
    p.add_argument("--strict-device", action="store_true",
                   help="fail instead of falling back to the CPU")
    p.add_argument("--threads", type=int,
                   help="CPU threads per segmentation (default: all cores; region with "
                        "--scheduler local: the cores shared among the workers)")
    p.add_argument("--json", action="store_true", help="print the result as JSON on stdout")
    p.add_argument("--quiet", action="store_true", help="only warnings and errors")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m upseg_qgis.core.cli",
        description="UPSeg optical + SAR segmentation without QGIS.",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    seg = sub.add_parser("segment", help="one optical + one SAR layer (as upseg:segment)")
    seg.add_argument("--optical", required=True)
    seg.add_argument("--sar", required=True)
    _common(seg)
    reg = sub.add_parser(
        "region", help="many scenes or a huge mosaic, window by window, resumable, on Dask",
        description="Scenes, folders or VRT mosaics -> one class raster on one grid. The "
        "finished windows are recorded beside the output (<output>.region/): rerun the same "
        "command to finish only what is missing.",
    )
    reg.add_argument("--optical", required=True, nargs="+", help="scenes, folders or VRTs")
    reg.add_argument("--sar", required=True, nargs="+", help="scenes, folders or VRTs")
    _common(reg)
    reg.add_argument("--crs", help="output CRS, e.g. EPSG:32631 (default: the optical scenes')")
    reg.add_argument("--resolution", type=float, help="output pixel size in CRS units")
    reg.add_argument("--window-size", type=int, help="output pixels per window side "
                     "(default 4096)")
    reg.add_argument("--scheduler", help="'local', 'local:N' (N worker processes) or the "
                     "address of a Dask scheduler, tcp://host:8786 (default: this process)")
    reg.add_argument("--workers", type=int, help="worker processes for --scheduler local")
    reg.add_argument("--retries", type=int, default=2, help="further attempts per failed "
                     "window (default 2)")
    reg.add_argument("--overwrite", action="store_true", help="replace an existing output, "
                     "or a work folder of another job")
    reg.add_argument("--restart", action="store_true", help="discard finished windows")
    reg.add_argument("--keep-work", action="store_true", help="keep the tiles and manifest "
                     "after success")
    return parser


class _Log:
    def __init__(self, quiet: bool) -> None:
        self.quiet = quiet
        self.step = -1

    def info(self, msg: str) -> None:
        if not self.quiet:
            print(msg, file=sys.stderr, flush=True)

    def warn(self, msg: str) -> None:
        print(f"Warning: {msg}", file=sys.stderr, flush=True)

    def progress(self, fraction: float, msg: str) -> None:
        step = int(fraction * 10)
        if step != self.step:
            self.step = step
            self.info(f"{fraction:4.0%} {msg}")


def _options(args: argparse.Namespace, extent: bool) -> dict[str, Any]:
    """segment()'s option groups from the command line."""
    from .run.options import InputOptions, RuntimeOptions, TilingOptions

    return {
        "model": args.model, "confidence": args.confidence,
        "inputs": InputOptions(args.optical_bands, args.sar_bands, args.optical_units,
                               args.sar_units,
                               tuple(args.extent) if extent and args.extent else None),
        "tiling": TilingOptions(args.tile_size, args.overlap, args.batch_size),
        "runtime": RuntimeOptions(args.device, args.strict_device, args.threads),
    }


def _segment(args: argparse.Namespace, report: Any) -> dict[str, Any]:
    from .run.pipeline import segment

    result = segment(args.optical, args.sar, args.output, **_options(args, True), report=report)
    return asdict(result)


def _region(args: argparse.Namespace, report: Any) -> dict[str, Any]:
    from .region.grid import GridRequest
    from .region.options import RegionOptions
    from .region.plan import DEFAULT_WINDOW_SIZE
    from .region.run import segment_region

    result = segment_region(
        args.optical, args.sar, args.output, **_options(args, False),
        grid=GridRequest(args.crs, args.resolution, tuple(args.extent) if args.extent else None),
        region=RegionOptions(args.window_size or DEFAULT_WINDOW_SIZE, args.scheduler,
                             args.workers, args.retries, args.overwrite, args.restart,
                             args.keep_work),
        report=report,
    )
    return asdict(result)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    log = _Log(args.quiet)
    from .region.run import REGION_ERRORS
    from .run.reporting import CancelledError, Reporter

    report = Reporter(progress=log.progress, info=log.info, warn=log.warn)
    try:
        doc = _segment(args, report) if args.command == "segment" else _region(args, report)
    except (KeyboardInterrupt, CancelledError):
        print("Interrupted. A region job keeps its finished windows: rerun the same command "
              "to finish it.", file=sys.stderr)
        return 130
    except REGION_ERRORS as exc:
        print(f"Error: {exc}", file=sys.stderr)
        return 1
    except MemoryError:
        print("Error: out of memory. Lower --tile-size, --batch-size or --window-size.",
              file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(doc, indent=1, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
