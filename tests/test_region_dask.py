"""Region jobs on Dask distributed: a LocalCluster of 2 worker processes on loopback TCP.

The cluster is started here and handed to the job by its address (tcp://127.0.0.1:port), the
way a job reaches an existing cluster; each worker opens its ONNX Runtime session once. A worker
killed half-way loses nothing: its window runs again elsewhere and the result is unchanged.
"""

from __future__ import annotations

import logging
import os
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.region_scenes import read, real_scenes, region, seg
from upseg_qgis.core.region.manifest import WorkFolder
from upseg_qgis.core.region.run import RegionError
from upseg_qgis.core.region.runner import run_window, sessions_opened

REAL = {"tile": 128, "overlap": 16, "threads": 1, "window_size": 200}


@pytest.fixture(scope="module")
def cluster() -> Iterator[Any]:
    from distributed import Client, LocalCluster

    cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                           protocol="tcp://", dashboard_address="127.0.0.1:0",
                           silence_logs=logging.ERROR)
    client = Client(cluster)
    try:
        yield cluster, client
    finally:
        client.close()
        cluster.close()


@pytest.fixture(scope="module")
def real(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    d = tmp_path_factory.mktemp("region_dask")
    sc = real_scenes(shared_data, d)
    ref = seg(sc["s2"], sc["s1"], d / "ref.tif", tile=128, overlap=16)
    return {**sc, "ref": ref.output}


def _worker_pids(client: Any) -> dict[str, int]:
    return client.run(os.getpid)


def test_two_worker_processes_over_loopback_tcp(cluster: Any, real: dict[str, Any],
                                                tmp_path: Path) -> None:
    cl, client = cluster
    address = cl.scheduler_address
    pids = _worker_pids(client)
    assert address.startswith("tcp://127.0.0.1:") and len(pids) == 2
    assert all(a.startswith("tcp://127.0.0.1:") for a in pids)
    assert os.getpid() not in pids.values()
    out = tmp_path / "region.tif"
    r = region(real["optical"], real["sar"], str(out), scheduler=address,
                       keep_work=True, **REAL)
    assert r.ran == 9 and "2 Dask worker(s)" in r.where
    np.testing.assert_array_equal(read(out), read(real["ref"]))
    workers = {rec.worker for rec in WorkFolder(out).finished().values()}
    assert {int(w.rsplit(":", 1)[1]) for w in workers} == set(pids.values())
    # One ONNX Runtime session per worker process, kept for all its windows.
    assert sorted(client.run(sessions_opened).values()) == [1, 1]


def test_worker_killed_half_way_result_unchanged(cluster: Any, real: dict[str, Any],
                                                 tmp_path: Path) -> None:
    cl, client = cluster
    victim = sorted(_worker_pids(client).values())[0]
    killed: list[int] = []

    def kill_once(fraction: float, _msg: str) -> None:
        if not killed and fraction < 1.0:
            os.kill(victim, signal.SIGKILL)
            killed.append(victim)

    out = tmp_path / "region.tif"
    r = region(real["optical"], real["sar"], str(out), scheduler=cl.scheduler_address,
                       progress=kill_once, **REAL)
    assert killed and r.ran == 9
    np.testing.assert_array_equal(read(out), read(real["ref"]))
    client.wait_for_workers(2, timeout=60)  # the nanny restarts the worker for the next test


def fail_one(job: Any, window: Any, threads: Any, is_cancelled: Any = None) -> Any:
    """Importable by the workers (a module-level function)."""
    if window.name == "r000_c001":
        raise OSError(f"cannot read a scene for {window.name}")
    return run_window(job, window, threads, is_cancelled)


def test_failing_window_on_the_cluster_is_named(cluster: Any, real: dict[str, Any],
                                                tmp_path: Path) -> None:
    cl, _ = cluster
    out = tmp_path / "region.tif"
    with pytest.raises(RegionError, match=r"r000_c001 \(2 attempt\(s\)\): cannot read"):
        region(real["optical"], real["sar"], str(out), scheduler=cl.scheduler_address,
                       retries=1, run=fail_one, **REAL)
    assert not out.exists()
    assert len(WorkFolder(out).finished()) == 8
