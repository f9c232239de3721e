"""`data info` (what a run would train on) and `data cache list|clear` (the decoded images kept between runs)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from tui.cli.common import CliError, data_app

cache_app = typer.Typer(help="The decoded-image cache: list and free it.", no_args_is_help=True)
data_app.add_typer(cache_app, name="cache")


def _checked_settings(image_size: int, test_split: float, split_seed: int, data_in_memory: str, device: str) -> None:
    from core.config.options import FieldError
    from core.config.train_config import TrainConfig
    from core.config.validate import validate_config

    cfg = TrainConfig(dataset="folder", image_size=image_size, test_split=test_split, split_seed=split_seed,
                      data_in_memory=data_in_memory, device=device)
    errors: list[FieldError] = [e for e in validate_config(cfg)
                                if e.field in ("image_size", "test_split", "split_seed", "data_in_memory", "device")]
    if errors:
        raise CliError(str(errors[0]))


def folder_info(data: str, image_size: int, test_split: float, split_seed: int, data_in_memory: str, device: str,
                check: bool) -> dict[str, Any]:
    _checked_settings(image_size, test_split, split_seed, data_in_memory, device)
    from core.data.budget import choose_residence
    from core.data.layout import scan_folder
    from core.errors import UserError

    try:
        scan = scan_folder(Path(data).expanduser(), test_split, split_seed)
        dev = None
        if device.startswith("cuda"):
            from core.hardware.devices import resolve_device

            dev = resolve_device(device)
        need = scan.decoded_bytes(image_size)
        in_memory, why = choose_residence(data_in_memory, need, dev)
        unreadable = _check_all(scan, image_size) if check else None
    except UserError as e:
        raise CliError(str(e)) from None
    splits = [s for s in ("train", "val", "test") if s in scan.files]
    info: dict[str, Any] = {
        "dataset": "folder", "data": data, "layout": scan.layout, "held_out": scan.held_out,
        "classes": scan.classes, "image_size": image_size,
        **{s: dict(zip(scan.classes, scan.counts(s))) for s in splits},
        "split_digest": scan.split_digest(), "decoded_bytes": need,
        "in_memory": in_memory, "why": why, "skipped_non_images": scan.skipped,
        "old_cache_bytes": sum(f.stat().st_size for f in old_cache_files(Path(data).expanduser())),
    }
    if unreadable is not None:
        info["unreadable"] = unreadable
    return info


def _check_all(scan, image_size: int) -> list[str]:
    """Decode every image once, a thread pool at a time, keeping nothing: the unreadable ones' messages."""
    import os
    from concurrent.futures import ThreadPoolExecutor

    from core.data.folder import decode_image
    from core.errors import DataError

    def one(path: Path) -> str:
        try:
            decode_image(path, image_size)
            return ""
        except DataError as e:
            return str(e)

    paths = [p for entries in scan.files.values() for p, _ in entries]
    with ThreadPoolExecutor(min(8, (os.cpu_count() or 1) + 2)) as pool:
        return [m for m in pool.map(one, paths, chunksize=64) if m]


def tensor_info(dataset: str, data: str, image_size: int) -> dict[str, Any]:
    from core.config.train_config import DATASETS

    if dataset not in DATASETS:
        raise CliError(f"--dataset must be one of {', '.join(DATASETS)} (got {dataset!r})")
    if not 8 <= image_size <= 1024:
        raise CliError(f"--image-size must be a whole number from 8 to 1024 (got {image_size})")
    from core.data import load_raw
    from core.errors import UserError

    try:
        train, test, classes = load_raw(dataset, data, image_size, download=False)
    except UserError as e:
        raise CliError(str(e)) from None
    return {
        "dataset": dataset, "data": data, "layout": "", "classes": classes, "image_size": image_size,
        "train": dict(zip(classes, train.class_counts(len(classes)))),
        "test": dict(zip(classes, test.class_counts(len(classes)))),
        "image_shape": list(train.images.shape[1:]), "in_memory": True,
        "why": f"{(train.images.numel() + test.images.numel()) / 2**20:.0f} MiB of decoded images held in memory",
    }


def print_info(info: dict[str, Any]) -> None:
    classes = info["classes"]
    splits = [s for s in ("train", "val", "test") if s in info]
    where = "in memory" if info["dataset"] == "synthetic" else info["data"]
    sizes = " / ".join(f"{sum(info[s].values())} {s}" for s in splits)
    typer.echo(f"{info['dataset']} ({where}): {len(classes)} classes, {sizes} images at {info['image_size']} px")
    if info.get("layout"):
        typer.echo(f"  layout: {info['layout']}" + (f"; test: {info['held_out']}" if info.get("held_out") else ""))
    if info.get("old_cache_bytes"):
        typer.echo(f"  an older version's decode cache is in {info['data']}/.resnet-tui-cache "
                   f"({_size(info['old_cache_bytes'])}): `resnet-tui data cache clear --data {info['data']}` frees it")
    typer.echo(f"  {'memory' if info['in_memory'] else 'streamed'}: {info['why']}")
    typer.echo(f"  {'class':<20}" + "".join(f"{s:>8}" for s in splits))
    for c in classes:
        typer.echo(f"  {c:<20}" + "".join(f"{info[s][c]:>8}" for s in splits))
    if any(info.get("skipped_non_images", {}).values()):
        typer.echo(f"  skipped non-image files: {info['skipped_non_images']}")
    if "unreadable" in info:
        bad = info["unreadable"]
        if bad:
            raise CliError(f"{len(bad)} unreadable image{'s' if len(bad) != 1 else ''}, the first: {bad[0]}")
        typer.echo("  every image can be read")


# ----------------------------------------------------------------------------- cache
def _size(n: float) -> str:
    return f"{n / 2**30:.2f} GiB" if n >= 2**30 else f"{n / 2**20:.1f} MiB"


def _folder(cache_dir: Optional[str]) -> Path:
    from core.data.cache import cache_root

    folder = cache_root(cache_dir or "")
    if folder.exists() and not folder.is_dir():
        raise CliError(f"--cache-dir {folder} is not a folder")
    return folder


@cache_app.command("list")
def cache_list(
    cache_dir: Annotated[Optional[str], typer.Option(help="The cache folder.", show_default="$XDG_CACHE_HOME/resnet-tui")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """The decoded images kept between runs: which folder, split and size each entry holds, and its bytes."""
    import json
    import time

    from core.data.cache import list_entries

    folder = _folder(cache_dir)
    entries = list_entries(folder)
    if as_json:
        typer.echo(json.dumps({"cache_dir": str(folder), "entries": entries}))
        return
    total = sum(e["bytes"] for e in entries)
    typer.echo(f"{folder}: {len(entries)} entr{'y' if len(entries) == 1 else 'ies'}, {_size(total)}")
    for e in entries:
        used = time.strftime("%Y-%m-%d %H:%M", time.localtime(e["used"]))
        typer.echo(f"  {e['key'][:12]}  {_size(e['bytes']):>10}  {e.get('images', '?'):>7} images  "
                   f"{e.get('split', '?'):<5} {e.get('image_size', '?')} px {e.get('fit', '')}  used {used}  {e.get('source', '?')}")


@cache_app.command("clear")
def cache_clear(
    cache_dir: Annotated[Optional[str], typer.Option(help="The cache folder.", show_default="$XDG_CACHE_HOME/resnet-tui")] = None,
    data: Annotated[Optional[str], typer.Option(help="Only the entries of this data folder.")] = None,
) -> None:
    """Delete cached decoded images (all, or one data folder's); runs decode again when they next need them."""
    from core.data.cache import list_entries, remove_entry

    folder = _folder(cache_dir)
    source = str(Path(data).expanduser().resolve()) if data else None
    freed = count = 0
    try:
        for e in list_entries(folder):
            if source is None or e.get("source") == source:
                freed += remove_entry(folder, e["key"])
                count += 1
        old = old_cache_files(Path(data).expanduser()) if data else []
        for f in old:
            freed += f.stat().st_size
            f.unlink()
        if old and not any(old[0].parent.iterdir()):
            old[0].parent.rmdir()
    except OSError as e:
        raise CliError(f"cannot clear {e.filename or folder}: {e.strerror or e}") from None
    also = f" and {len(old)} file{'s' if len(old) != 1 else ''} an older version left in {old[0].parent}" if old else ""
    typer.echo(f"removed {count} entr{'y' if count == 1 else 'ies'} from {folder}{also}, {_size(freed)} freed")


def old_cache_files(root: Path) -> list[Path]:
    """Decoded splits an older version cached inside an image folder (ROOT/.resnet-tui-cache/train-32.pt ...);
    CIFAR-10's own cache beside its archive (cifar10.pt) is not one of them."""
    from core.data.cache import CACHE_DIR

    folder = root / CACHE_DIR
    if not folder.is_dir():
        return []
    return sorted(f for split in ("train", "test") for f in folder.glob(f"{split}-*.pt"))
