"""What a run gets wrong, with the images: one confusion-matrix cell's images, or the most confused class
pairs with a few images each (for `resnet-tui mistakes`, the run report and the app's gallery)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import torch

from core.errors import UserError
from core.inference.eval_images import SplitImages, split_images
from core.inference.predictions import Predictions, load_predictions, path_of


@dataclass(frozen=True)
class Shown:
    index: int  # the image's place in its split
    name: str  # its file, or "test #42"
    pixels: torch.Tensor  # uint8 3 x S x S
    true: int
    pred: int
    confidence: float  # the predicted class's probability
    top: tuple[tuple[int, float], ...]  # the likeliest classes, likeliest first


@dataclass
class Cell:
    true: int
    pred: int
    count: int  # images in the cell (more than are shown)
    shown: list[Shown] = field(default_factory=list)


@dataclass
class RunMistakes:
    run_dir: Path
    preds: Predictions
    images: SplitImages

    @property
    def classes(self) -> tuple[str, ...]:
        return self.preds.classes

    def shown(self, i: int) -> Shown:
        p = self.preds
        top = tuple(zip(p.top_class[i].tolist(), p.top_prob[i].tolist()))
        return Shown(i, self.images.name(i, p.split), self.images.pixels(i), int(p.true[i]), int(p.pred[i]),
                     float(p.confidence[i]), top)

    def cell(self, true: int, pred: int, limit: int | None = None) -> Cell:
        """A matrix cell's images: most confident mistakes first, or least confident correct ones."""
        index = self.preds.cell(true, pred)
        return Cell(true, pred, len(index), [self.shown(i) for i in (index if limit is None else index[:limit])])

    def worst_pairs(self, pairs: int = 6, per_pair: int = 6) -> list[Cell]:
        """The most frequent mistakes (true -> predicted), a few of their most confident images each."""
        return [self.cell(t, p, per_pair) for t, p, _ in self.preds.confused_pairs(pairs)]


def shown_split(run_dir: Path) -> str:
    """The split whose matrix a run shows (its newest metrics row says), else the test split once tested."""
    from core.runs.layout import read_metrics

    shown = [r.get("eval_split") for r in read_metrics(run_dir) if r.get("confusion")]
    if shown and shown[-1] in ("test", "val") and path_of(run_dir, shown[-1]).is_file():
        return str(shown[-1])
    for split in ("test", "val"):
        if path_of(run_dir, split).is_file():
            return split
    return "test"


def open_mistakes(run_dir: str | Path, split: str | None = None) -> RunMistakes:
    """A run's kept predictions with their images; UserError in one line when either is missing."""
    path = Path(run_dir).expanduser()
    if not path.is_dir():
        raise UserError(f"{run_dir}: no such run folder")
    preds = load_predictions(path, split or shown_split(path))
    return RunMistakes(path, preds, split_images(path, preds))
