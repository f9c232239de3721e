"""The memory figure the training screen shows: the process's resident memory off the GPU."""

from __future__ import annotations

import re

from core.sysinfo import memory_line, process_rss_bytes


def _vm_rss() -> int:
    for line in open("/proc/self/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


def test_process_memory_is_this_process_s_resident_size():
    before = process_rss_bytes()
    assert before is not None and abs(before - _vm_rss()) < 64 * 2**20
    block = bytearray(256 * 2**20)  # touched pages count as resident
    for i in range(0, len(block), 4096):
        block[i] = 1
    grown = process_rss_bytes()
    assert grown - before > 200 * 2**20
    del block


def test_memory_line_off_the_gpu_reports_the_process_in_gib():
    line = memory_line("cpu")
    match = re.fullmatch(r"RAM (\d+\.\d\d) GiB \(process\)", line)
    assert match and abs(float(match[1]) - _vm_rss() / 2**30) < 0.1
    assert memory_line("cuda:0").startswith("RAM ")  # no GPU here: the process's memory, not an error
