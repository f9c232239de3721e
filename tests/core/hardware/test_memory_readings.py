"""The memory figure the training screen shows: the process's resident memory off the GPU."""

from __future__ import annotations

import mmap
import re

from core.hardware.readings import memory_line, process_rss_bytes


def _vm_rss() -> int:
    for line in open("/proc/self/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


def test_process_memory_is_this_process_s_resident_size():
    before = process_rss_bytes()
    assert before is not None and abs(before - _vm_rss()) < 64 * 2**20
    # Fresh pages from the kernel (a bytearray may reuse heap memory an earlier test freed but the
    # allocator kept resident); touched pages count as resident, and count no more once unmapped.
    block = mmap.mmap(-1, 256 * 2**20)
    for i in range(0, len(block), mmap.PAGESIZE):
        block[i] = 1
    grown = process_rss_bytes()
    assert grown - before > 200 * 2**20
    block.close()
    assert grown - process_rss_bytes() > 200 * 2**20


def test_memory_line_off_the_gpu_reports_the_process_in_gib():
    line = memory_line("cpu")
    match = re.fullmatch(r"RAM (\d+\.\d\d) GiB \(process\)", line)
    assert match and abs(float(match[1]) - _vm_rss() / 2**30) < 0.1
    assert memory_line("cuda:0").startswith("RAM ")  # no GPU here: the process's memory, not an error
