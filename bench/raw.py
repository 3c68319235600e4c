"""The raw ONNX Runtime limit: the default model on in-memory tiles, no I/O."""

from __future__ import annotations

import gc
import time
from typing import Any

import numpy as np


def raw_throughput(tile: int, batch: int, threads: int | None, spinning: bool, runs: int = 1,
                   seconds: float = 4.0) -> dict[str, Any]:
    """Tile megapixels per second of the default model on in-memory, normalised tiles:
    `runs` threads each calling the session (as the pipeline does with parallel runs)."""
    import threading

    from upseg_qgis.core.engine.session import load_model

    lm = load_model(None, "cpu", threads=threads, spinning=spinning)
    n_opt = lm.metadata.optical.band_count
    n_sar = lm.metadata.sar.band_count
    rng = np.random.default_rng(0)
    opt = rng.standard_normal((batch, n_opt, tile, tile), dtype=np.float32)
    sar = rng.standard_normal((batch, n_sar, tile, tile), dtype=np.float32)
    counts = [0] * runs
    warm = threading.Barrier(runs + 1)
    stop = threading.Event()

    def work(i: int) -> None:
        lm.run(opt, sar)  # warm-up: allocations, kernel choice
        lm.run(opt, sar)
        warm.wait()
        while not stop.is_set():
            lm.run(opt, sar)
            counts[i] += 1

    workers = [threading.Thread(target=work, args=(i,)) for i in range(runs)]
    for w in workers:
        w.start()
    warm.wait()
    t0 = time.perf_counter()
    time.sleep(seconds)
    done_then = sum(counts)
    dt = time.perf_counter() - t0
    stop.set()
    for w in workers:
        w.join()
    gc.collect()
    return {"tile": tile, "batch": batch, "threads": threads, "runs": runs,
            "spinning": spinning, "mpx_per_s": round(done_then * batch * tile * tile / 1e6 / dt, 4),
            "batches": done_then, "seconds": round(dt, 2)}


