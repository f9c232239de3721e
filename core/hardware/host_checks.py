"""doctor's host rows: /dev/shm, the runs and cache folders (free disk, writable), the open-file limit, and the
terminal the app would draw on (size, colours, UTF-8, tmux or screen). Each takes what it reads as arguments
(a statvfs function, a limit, a size, the environment), so that tests hand it a fake machine."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Callable, Mapping

from core.hardware.probe import Check

GIB = 2**30
SHM_MIN = 1 * GIB  # DataLoader workers and NCCL pass tensors through /dev/shm; docker gives 64 MB
DISK_MIN = 5 * GIB  # a ResNet-50 run's checkpoints and a decoded-image cache take gigabytes
NOFILE_MIN = 4096
TERMINAL_MIN = (100, 30)
FOLDER_OPTION = {"runs": "--run-dir", "cache": "--cache-dir"}


def size(n: float) -> str:
    return f"{n / GIB:.1f} GiB" if n >= GIB else f"{n / 2**20:.0f} MiB"


def check_shm(statvfs: Callable[[str], os.statvfs_result], path: str = "/dev/shm") -> Check:
    try:
        st = statvfs(path)
    except FileNotFoundError:
        return Check("shm", "info", f"no {path} (not Linux): nothing to check")
    total, free = st.f_blocks * st.f_frsize, st.f_bavail * st.f_frsize
    detail = f"{path} {size(total)} ({size(free)} free)"
    if total < SHM_MIN:
        return Check("shm", "warn", f"{detail}: DataLoader workers and NCCL need more (containers get 64 MB)",
                     "docker run --shm-size=8g (or --ipc=host)")
    if free < SHM_MIN:
        return Check("shm", "warn", f"{detail}: nearly full", f"files crashed jobs left there take it: ls -la {path}")
    return Check("shm", "ok", detail)


def cache_folder(cache_dir: str | Path = "") -> Path:
    """The decoded-image cache folder as runs resolve it (--cache-dir, else $XDG_CACHE_HOME/resnet-tui)."""
    if str(cache_dir):  # as cache_root takes it, without importing core.data (and torch) for one line
        return Path(cache_dir).expanduser()
    from core.data.cache import cache_root

    return cache_root(cache_dir)


def check_folder(name: str, path: Path) -> Check:
    """A folder runs write into: writable (a temporary file made and removed in it) and with room. A folder that
    does not exist yet is not made: its nearest existing parent is checked instead."""
    option = FOLDER_OPTION.get(name, "another folder")
    path = Path(path).expanduser()
    target = path.absolute()
    while not target.exists() and target != target.parent:
        target = target.parent
    if not target.is_dir():
        where = f"{path} exists and" if target == path.absolute() else f"{path}: {target}"
        return Check(name, "fail", f"{where} is not a folder", f"choose another with {option}")
    try:
        with tempfile.NamedTemporaryFile(dir=target, prefix=".resnet-tui-doctor-"):
            pass
    except OSError as e:
        return Check(name, "fail", f"{target} is not writable ({e.strerror or e})", f"choose a writable folder with {option}")
    free = shutil.disk_usage(target).free
    where = str(path) if target == path.absolute() else f"{path} (not made yet; {target} is writable)"
    detail = f"{where}: {size(free)} free"
    if free < DISK_MIN:
        return Check(name, "warn", f"{detail}: checkpoints and caches need gigabytes",
                     f"free some space, or choose a folder on a larger disk with {option}")
    return Check(name, "ok", detail)


def check_nofile(limits: tuple[int, int]) -> Check:
    import resource

    soft, hard = limits
    infinite = getattr(resource, "RLIM_INFINITY", -1)
    shown = "unlimited" if hard == infinite else str(hard)
    if soft == infinite or soft >= NOFILE_MIN:
        return Check("open-files", "ok", f"{'unlimited' if soft == infinite else soft} open files allowed")
    detail = f"{soft} open files allowed (hard limit {shown}): DataLoader workers and many runs need more"
    if hard != infinite and hard < NOFILE_MIN:
        return Check("open-files", "warn", detail, "ask the admin to raise the hard limit (/etc/security/limits.conf)")
    return Check("open-files", "warn", detail, f"ulimit -n {65536 if hard == infinite else min(hard, 65536)}")


def check_terminal(terminal: os.terminal_size | None) -> Check:
    if terminal is None:
        return Check("terminal", "info", "stdout is not a terminal: its size is not checked")
    cols, lines = terminal.columns, terminal.lines
    if cols < TERMINAL_MIN[0] or lines < TERMINAL_MIN[1]:
        return Check("terminal", "warn", f"{cols}x{lines}: the app works from 80x24 but wants "
                     f"{TERMINAL_MIN[0]}x{TERMINAL_MIN[1]} (the setup form, the charts)", "make the window larger")
    return Check("terminal", "ok", f"{cols}x{lines}")


def check_colour(env: Mapping[str, str]) -> Check:
    term, colorterm = env.get("TERM", ""), env.get("COLORTERM", "")
    if env.get("NO_COLOR"):
        return Check("colour", "info", "NO_COLOR is set: the app draws without colours")
    if term in ("", "dumb"):
        return Check("colour", "warn", f"TERM={term or '(unset)'}: the app cannot draw on it",
                     "export TERM=xterm-256color")
    if colorterm in ("truecolor", "24bit"):
        return Check("colour", "ok", f"TERM={term}, COLORTERM={colorterm}: 24-bit colour")
    if "256color" in term:
        return Check("colour", "ok", f"TERM={term}: 256 colours")
    return Check("colour", "info", f"TERM={term}: perhaps only 8 or 16 colours",
                 "export TERM=xterm-256color if the terminal has 256 colours")


def check_encoding(encoding: str, env: Mapping[str, str]) -> Check:
    which = next((k for k in ("LC_ALL", "LC_CTYPE", "LANG") if env.get(k)), "LANG")
    locale = f"{which}={env.get(which) or '(unset)'}"
    if encoding.lower().replace("-", "").replace("_", "") == "utf8":
        return Check("encoding", "ok", f"{encoding} ({locale})")
    return Check("encoding", "warn", f"{encoding} ({locale}): the app draws box and block characters",
                 "export LANG=C.UTF-8")


def check_session(env: Mapping[str, str]) -> Check:
    if env.get("TMUX"):
        return Check("tmux", "ok", "inside tmux")
    if env.get("STY"):
        return Check("tmux", "ok", "inside screen")
    return Check("tmux", "info", "not inside tmux or screen: an SSH drop ends the app's view (runs go on)",
                 "run the app inside tmux or screen")
