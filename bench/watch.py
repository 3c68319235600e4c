"""Running a command while watching its process tree: wall time, peak memory, CPU time."""

from __future__ import annotations

import contextlib
import subprocess
import tempfile
import time
from typing import Any

from bench.config import ROOT


def run_watched(cmd: list[str], env: dict[str, str] | None = None,
                timeout: float = 3600) -> dict[str, Any]:
    """Run `cmd`: wall time, peak RSS of it and all its children (polled every 50 ms), and the
    CPU it used against what the whole machine used meanwhile (others share the machine)."""
    import psutil

    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        sys0 = psutil.cpu_times()
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, env=env, cwd=ROOT)
        ps = psutil.Process(proc.pid)
        peak = 0
        cpu = 0.0
        while proc.poll() is None:
            rss = 0
            tree_cpu = 0.0
            with contextlib.suppress(psutil.Error):
                for p in [ps, *ps.children(recursive=True)]:
                    with contextlib.suppress(psutil.Error):
                        rss += p.memory_info().rss
                        ct = p.cpu_times()
                        tree_cpu += ct.user + ct.system
            peak = max(peak, rss)
            cpu = max(cpu, tree_cpu)
            if time.perf_counter() - t0 > timeout:
                proc.kill()
            time.sleep(0.05)
        wall = time.perf_counter() - t0
        sys1 = psutil.cpu_times()
        busy = sum(getattr(sys1, f) - getattr(sys0, f) for f in
                   ("user", "nice", "system", "irq", "softirq") if hasattr(sys1, f))
        steal = getattr(sys1, "steal", 0.0) - getattr(sys0, "steal", 0.0)
        out.seek(0)
        err.seek(0)
        return {"returncode": proc.returncode, "seconds": wall, "peak_rss_mb": peak / 2**20,
                "cpu_seconds": round(cpu, 2),
                "other_processes_cpu_seconds": round(max(0.0, busy - cpu), 2),
                "steal_seconds": round(steal, 2),
                "stdout": out.read(), "stderr": err.read()}


