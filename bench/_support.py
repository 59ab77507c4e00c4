"""What the benchmarks share: progress lines, PASS/MISS, memory readings, spawned children.

The scripts are run as files (``python bench/ingest.py``), so this module is imported from
their own folder as ``_support``.
"""

from __future__ import annotations

import resource
import sys
import traceback
from collections.abc import Callable, Sequence
from multiprocessing import get_context
from typing import Any


def log(message: str) -> None:
    """A progress line on stderr (stdout carries the figures and the final JSON line)."""
    print(message, file=sys.stderr, flush=True)


def verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def _proc_status_mb(field: str) -> float | None:
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) / 1024  # kB
    except OSError:
        pass
    return None


def peak_rss_mb() -> float:
    """This process's peak resident set (VmHWM; ru_maxrss where /proc is missing)."""
    peak = _proc_status_mb("VmHWM")
    if peak is not None:
        return peak
    maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return maxrss / 1024 / 1024 if sys.platform == "darwin" else maxrss / 1024


def current_rss_mb() -> float:
    return _proc_status_mb("VmRSS") or peak_rss_mb()


def _child_main(target: Callable[[Any], Any], task: Any, conn: Any) -> None:
    try:
        conn.send((True, target(task)))
    except BaseException:  # noqa: BLE001 - the parent re-raises it with the child's traceback
        conn.send((False, traceback.format_exc()))
    finally:
        conn.close()


def run_children(target: Callable[[Any], Any], tasks: Sequence[Any]) -> list[Any]:
    """``target(task)`` for each task, each in its own spawned interpreter (so its peak RSS is
    its own), all at once. Children still running when this returns or raises (an error,
    SIGTERM) are terminated. Not daemons: joblib refuses process-based loops in a daemonic
    process, and what is measured must run as it does in the product's processes."""
    ctx = get_context("spawn")
    running: list[tuple[Any, Any]] = []
    try:
        for task in tasks:
            receive, send = ctx.Pipe(duplex=False)
            process = ctx.Process(target=_child_main, args=(target, task, send))
            process.start()
            send.close()
            running.append((process, receive))
        results = []
        for process, receive in running:
            try:
                ok, payload = receive.recv()
            except EOFError:
                process.join()
                raise RuntimeError(f"child {process.pid} died (exit code {process.exitcode})") from None
            if not ok:
                raise RuntimeError(f"child {process.pid} failed:\n{payload}")
            results.append(payload)
        for process, _ in running:
            process.join()
        return results
    finally:
        for process, receive in running:
            if process.is_alive():
                process.terminate()
                process.join(10)
            receive.close()


def run_child(target: Callable[[Any], Any], task: Any) -> Any:
    """``target(task)`` in one fresh spawned interpreter (see :func:`run_children`)."""
    return run_children(target, [task])[0]
