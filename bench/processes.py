"""An engine's processes, found from the one the benchmark started: paused while another
engine is measured, their CPU time read before and after a run, their memory summed.

Every engine is started in a session of its own, so its workers, replicas and helper daemons
(Ray's raylet and GCS, BentoML's runners) share that session id; processes that left it are
still found as descendants of the first one.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from dataclasses import dataclass
from pathlib import Path

_PROC = Path("/proc")
_TICKS_PER_S = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class _Stat:
    pid: int
    parent: int
    session: int
    cpu_ticks: int


def _stat(pid: int) -> _Stat | None:
    try:
        text = (_PROC / str(pid) / "stat").read_text(encoding="ascii", errors="replace")
    except OSError:
        return None  # exited while we looked
    # The command name may hold spaces and parentheses; the fields after the last ")" do not.
    fields = text.rsplit(")", 1)[1].split()
    return _Stat(pid, int(fields[1]), int(fields[3]), int(fields[11]) + int(fields[12]))


def _every_stat() -> list[_Stat]:
    found = (_stat(int(entry.name)) for entry in _PROC.iterdir() if entry.name.isdigit())
    return [stat for stat in found if stat is not None]


def members(root: int) -> list[int]:
    """``root``, the processes of its session and every descendant of either."""
    stats = _every_stat()
    chosen = {root} | {stat.pid for stat in stats if stat.session == root}
    grew = True
    while grew:
        children = {stat.pid for stat in stats if stat.parent in chosen} - chosen
        chosen |= children
        grew = bool(children)
    return sorted(pid for pid in chosen if pid in {stat.pid for stat in stats})


def cpu_seconds(root: int) -> float:
    """CPU time (user + system) the live processes of ``root`` have used so far."""
    pids = set(members(root))
    return sum(stat.cpu_ticks for stat in _every_stat() if stat.pid in pids) / _TICKS_PER_S


def pss_mb(root: int) -> float:
    """Proportional set size of ``root``'s processes in MiB: shared pages are split among the
    processes that map them, so summing over processes counts each page once."""
    total_kb = 0
    for pid in members(root):
        with contextlib.suppress(OSError):
            for line in (_PROC / str(pid) / "smaps_rollup").read_text().splitlines():
                if line.startswith("Pss:"):
                    total_kb += int(line.split()[1])
                    break
    return total_kb / 1024


def wait_until_idle(root: int, below: float = 0.05, timeout_s: float = 30.0) -> bool:
    """Wait until ``root``'s processes keep fewer than ``below`` cores busy over two windows
    of 0.2 s in a row: the requests a load generator left behind when it stopped are done.
    Returns False if they were still busy after ``timeout_s``."""
    deadline, quiet, window = time.monotonic() + timeout_s, 0, 0.2
    while time.monotonic() < deadline:
        before = cpu_seconds(root)
        time.sleep(window)
        quiet = quiet + 1 if cpu_seconds(root) - before < below * window else 0
        if quiet >= 2:
            return True
    return False


def pause(root: int) -> None:
    """Stop every process of ``root`` (SIGSTOP), so an idle engine takes no CPU while another
    one is measured. Pause only an idle engine (:func:`wait_until_idle`): a request in flight
    would see the whole pause as its latency, and an engine that times out inference (as
    ModelMart does, restarting the worker) would take it for a hang."""
    _signal_all(root, signal.SIGSTOP)


def resume(root: int) -> None:
    _signal_all(root, signal.SIGCONT)


def _signal_all(root: int, signum: signal.Signals) -> None:
    for pid in members(root):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signum)


def kill_all(root: int) -> None:
    """SIGKILL what is left of ``root``'s processes (after a polite stop was tried)."""
    _signal_all(root, signal.SIGCONT)  # a stopped process only dies once it runs again
    _signal_all(root, signal.SIGKILL)
