"""What the data field of a form says about an image folder: its layout and split, the class counts, and whether
a run would hold it in memory or stream it (listing only, nothing decoded: called from a worker thread)."""

from __future__ import annotations

from pathlib import Path


def folder_summary(data: str, test_split: float, split_seed: int, image_size: int, in_memory: str) -> tuple[str, int]:
    """(text, training images); raises core.errors.UserError when the folder cannot be used."""
    from core.data.budget import choose_residence
    from core.data.layout import scan_folder

    scan = scan_folder(Path(data).expanduser(), test_split, split_seed)
    splits = [s for s in ("train", "val", "test") if s in scan.files]
    counts = {s: scan.counts(s) for s in splits}
    parts = [f"{c} {'/'.join(str(counts[s][i]) for s in splits)}" for i, c in enumerate(scan.classes)]
    shown = ", ".join(parts[:6]) + (f", ... ({len(parts)} in all)" if len(parts) > 6 else "")
    skipped = sum(scan.skipped.values())
    lines = [scan.describe(),
             f"{'/'.join(splits)} per class: {shown}" + (
                 f"; {skipped} non-image file{'s' if skipped != 1 else ''} skipped" if skipped else "")]
    held, why = choose_residence(in_memory, scan.decoded_bytes(image_size), None)
    lines.append(why)
    return "\n".join(lines), len(scan.files["train"])
