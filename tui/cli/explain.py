"""`resnet-tui explain` (Grad-CAM pictures of image files) and `resnet-tui mistakes` (the most confused class
pairs of a run, with their images). Both check their input before anything is drawn and write atomically."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Optional

import typer

from tui.cli.common import CliError, app
from tui.cli.runs import resolve_run


def out_names(paths: list[str], out: Path) -> list[Path]:
    """DIR/<stem>-explain.png per image; a stem met again gets -2, -3 (two cat.jpg from two folders)."""
    used: set[str] = set()
    names = []
    for p in paths:
        stem, n = Path(p).stem, 1
        name = f"{stem}-explain.png"
        while name in used:  # a/cat.jpg, b/cat.jpg and cat-2.jpg: cat, cat-2, cat-2-2
            n += 1
            name = f"{stem}-{n}-explain.png"
        used.add(name)
        names.append(out / name)
    return names


@app.command()
def explain(
    run: Annotated[str, typer.Argument(help="A run folder (or its name in --run-dir) or a checkpoint file.")],
    images: Annotated[list[str], typer.Argument(help="Image files to explain.")],
    out: Annotated[Optional[str], typer.Option("--out", help="Folder for one PNG per image: the image, its heat map and the top-3 classes.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print per image: image, pred, prob, peak [x, y] in the image's pixels.")] = False,
    device: Annotated[str, typer.Option(help="auto | cpu | cuda | cuda:N | mps")] = "auto",
    runs_dir: Annotated[str, typer.Option("--run-dir", help="Folder of run directories.")] = "checkpoints",
) -> None:
    """Show where the model looks: a Grad-CAM map of its last convolutional stage for the predicted class."""
    missing = [p for p in images if not Path(p).is_file()]
    if missing:
        raise CliError(f"IMAGE {missing[0]} is not a file")
    if out is None and not as_json:
        raise CliError("give --out DIR (PNGs), --json, or both")
    folder = Path(out).expanduser() if out is not None else None
    if folder is not None and folder.exists() and not folder.is_dir():
        raise CliError(f"--out {out}: exists and is not a folder")
    source = run if Path(run).expanduser().exists() else str(resolve_run(run, runs_dir))
    from core.errors import UserError
    from core.inference.explain_files import explain_files
    from core.inference.trained import load_trained

    try:
        trained = load_trained(source, device)
        explained = explain_files(trained, [Path(p) for p in images])
    except (UserError, ValueError) as e:
        raise CliError(str(e)) from None
    if folder is not None:
        from core.atomic import atomic_write_bytes
        from tui.cli.explain_draw import explain_figure
        from tui.cli.report_draw import png_bytes

        try:
            folder.mkdir(parents=True, exist_ok=True)
            for target, e in zip(out_names(images, folder), explained):
                atomic_write_bytes(target, png_bytes(explain_figure(e, trained.classes)))
        except OSError as e:
            raise CliError(f"--out {out}: cannot write there ({e.strerror or e})") from None
    if as_json:
        typer.echo(json.dumps([
            {"image": e.name, "pred": trained.classes[e.explanation.target], "prob": e.explanation.top[0][1],
             "peak": list(e.peak), "top": [{"class": c, "prob": p} for c, p in e.top(trained.classes)]}
            for e in explained
        ]))
    else:
        for e in explained:
            c, p = e.top(trained.classes)[0]
            typer.echo(f"{e.name}: {c} {100 * p:.1f}%, heat peak at x={e.peak[0]} y={e.peak[1]}")
        typer.echo(f"wrote {len(explained)} PNG{'s' * (len(explained) != 1)} in {folder}")


@app.command()
def mistakes(
    run: Annotated[str, typer.Argument(help="A run folder, or its name in --run-dir.")],
    out: Annotated[str, typer.Option("--out", "-o", help="The file to write: .png or .html.")],
    split: Annotated[Optional[str], typer.Option(help="test | val (default: the split its confusion matrix shows).")] = None,
    pairs: Annotated[int, typer.Option(help="How many confused class pairs.", min=1)] = 6,
    per_pair: Annotated[int, typer.Option(help="Images per pair, most confident mistakes first.", min=1)] = 6,
    runs_dir: Annotated[str, typer.Option("--run-dir", help="Folder of run directories.")] = "checkpoints",
) -> None:
    """A gallery of the class pairs the run confuses most, a few images each with the model's confidence."""
    from tui.cli.report import check_out

    if split not in (None, "test", "val"):
        raise CliError(f"--split must be test or val (got {split!r})")
    path = check_out(out)
    run_dir = resolve_run(run, runs_dir)
    from core.errors import UserError
    from core.inference.mistakes import open_mistakes

    try:
        found = open_mistakes(run_dir, split)
        cells = found.worst_pairs(pairs, per_pair)  # decodes the images shown: an unreadable one is a DataError
    except UserError as e:
        raise CliError(str(e)) from None
    from tui.cli.mistakes_page import mistakes_html, mistakes_title

    title = mistakes_title(found)
    if path.suffix.lower() == ".html":
        import html

        from tui.cli.report_html import CSS

        content = (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
                   f"<style>{CSS}</style></head>\n<body>\n{mistakes_html(found, cells, per_pair)}\n</body></html>\n").encode()
    else:
        from tui.cli.mistakes_draw import mistakes_png

        content = mistakes_png(cells, found.classes, title, per_pair)
    from tui.cli.report import _write

    _write(path, out, content, f"{len(cells)} confused pair{'s' * (len(cells) != 1)}" if cells else "no mistakes")
