"""Process facts read straight from /proc (Linux only; psutil is not a dependency)."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path

PROC = Path("/proc")
CLK_TCK = os.sysconf("SC_CLK_TCK")


@dataclass
class Proc:
    """One process of the server tree and what we know about it."""

    pid: int
    ppid: int
    role: str
    cmdline: list[str] = field(default_factory=list)
    rss_mb: float | None = None
    pss_mb: float | None = None

    def as_dict(self) -> dict:
        return {
            "pid": self.pid,
            "ppid": self.ppid,
            "role": self.role,
            "rss_mb": self.rss_mb,
            "pss_mb": self.pss_mb,
            "cmdline": " ".join(self.cmdline),
        }


def _stat_fields(pid: int) -> list[str] | None:
    """Fields of /proc/<pid>/stat after the command name (which may hold spaces)."""
    try:
        raw = (PROC / str(pid) / "stat").read_text()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    return raw[raw.rfind(")") + 2 :].split()


def parent_map() -> dict[int, int]:
    """pid -> ppid for every process we can see."""
    parents: dict[int, int] = {}
    for entry in PROC.iterdir():
        if not entry.name.isdigit():
            continue
        fields = _stat_fields(int(entry.name))
        if fields:
            parents[int(entry.name)] = int(fields[1])
    return parents


def descendants(root: int, parents: dict[int, int] | None = None) -> list[int]:
    """All processes below ``root`` (children first, breadth-first)."""
    parents = parent_map() if parents is None else parents
    children: dict[int, list[int]] = {}
    for pid, ppid in parents.items():
        children.setdefault(ppid, []).append(pid)
    found: list[int] = []
    queue = [root]
    while queue:
        for child in sorted(children.get(queue.pop(0), [])):
            found.append(child)
            queue.append(child)
    return found


def cmdline(pid: int) -> list[str]:
    try:
        raw = (PROC / str(pid) / "cmdline").read_bytes()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return []
    return [part.decode(errors="replace") for part in raw.split(b"\0") if part]


def _kb_field(path: Path, name: str) -> int | None:
    try:
        text = path.read_text()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    for line in text.splitlines():
        if line.startswith(name):
            return int(line.split()[1])
    return None


def rss_mb(pid: int) -> float | None:
    """Resident set size (VmRSS) in MiB; shared pages count fully in every process."""
    kb = _kb_field(PROC / str(pid) / "status", "VmRSS:")
    return None if kb is None else round(kb / 1024, 1)


def pss_mb(pid: int) -> float | None:
    """Proportional set size in MiB: shared pages split between the processes sharing them."""
    kb = _kb_field(PROC / str(pid) / "smaps_rollup", "Pss:")
    return None if kb is None else round(kb / 1024, 1)


def cpu_seconds(pids: list[int]) -> float:
    """User+system CPU of ``pids``, including children they have already reaped."""
    ticks = 0
    for pid in pids:
        fields = _stat_fields(pid)
        if fields:
            # utime, stime, cutime, cstime are stat fields 14-17 (index 11-14 here).
            ticks += sum(int(v) for v in fields[11:15])
    return ticks / CLK_TCK


def _role(pid: int, ppid: int, root: int, master: int | None, argv: list[str]) -> str:
    joined = " ".join(argv)
    if pid == root:
        return "autocrm serve (supervisor)"
    if master is not None and pid == master:
        return "gunicorn master"
    if master is not None and ppid == master:
        return "gunicorn worker"
    if "autocrm.cli" in joined and "worker" in argv:
        return "huey worker"
    return "other"


def server_tree(root: int) -> list[Proc]:
    """The ``autocrm serve`` process, the gunicorn master and workers and the huey worker."""
    parents = parent_map()
    pids = [root, *descendants(root, parents)]
    master = next(
        (
            pid
            for pid in pids
            if parents.get(pid) == root and any("gunicorn" in a for a in cmdline(pid))
        ),
        None,
    )
    tree = []
    for pid in pids:
        argv = cmdline(pid)
        ppid = parents.get(pid, 0)
        tree.append(
            Proc(
                pid=pid,
                ppid=ppid,
                role=_role(pid, ppid, root, master, argv),
                cmdline=argv,
                rss_mb=rss_mb(pid),
                pss_mb=pss_mb(pid),
            )
        )
    return tree


def tree_cpu_seconds(root: int) -> float:
    """CPU used so far by ``root`` and everything below it (live or reaped)."""
    return cpu_seconds([root, *descendants(root)])


def system_cpu() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine since boot, from /proc/stat."""
    fields = [int(v) for v in (PROC / "stat").read_text().split("\n", 1)[0].split()[1:]]
    # user nice system idle iowait irq softirq steal [guest guest_nice, already in user/nice]
    total = sum(fields[:8])
    idle = fields[3] + fields[4]
    return (total - idle) / CLK_TCK, total / CLK_TCK


def other_cpu_share(seconds: float, exclude: list[int]) -> float:
    """Share of one core (%) used by processes other than ``exclude`` and their children
    over ``seconds``: a check that nothing else competes with the benchmark."""

    def sample() -> tuple[float, float]:
        pids = [p for root in exclude for p in (root, *descendants(root))]
        return system_cpu()[0], cpu_seconds(pids)

    busy0, own0 = sample()
    t0 = time.perf_counter()
    time.sleep(seconds)
    busy1, own1 = sample()
    return 100 * max(0.0, (busy1 - busy0) - (own1 - own0)) / (time.perf_counter() - t0)
