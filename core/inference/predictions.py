"""Each evaluation's per-image predictions, kept in the run folder: what the mistakes gallery, `mistakes`, the
report and the app show images from.

One file per split, ``predictions-test.safetensors`` / ``predictions-val.safetensors``, rewritten atomically at
each evaluation of that split (so it always belongs to the newest confusion matrix of its split). It holds, in
the order of the split's images: the true class, the top-k classes and their probabilities. 10,000 images at
k = 5 are 380 KB (the CIFAR-10 test set, measured). Which image each row is follows from the run's data settings (the split is rebuilt by the
same seeded code: core.inference.eval_images); the labels are kept to check that it still is.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import torch

from core.atomic import atomic_write_bytes
from core.errors import UserError

TOP_K = 5
FILE = "predictions-{}.safetensors"


@dataclass
class Predictions:
    true: torch.Tensor  # int64 N: the true class of each image, in the split's order
    top_class: torch.Tensor  # int64 N x k: the k likeliest classes, likeliest first
    top_prob: torch.Tensor  # float32 N x k: their probabilities
    split: str = "test"
    epoch: int = 0
    classes: tuple[str, ...] = ()

    def __len__(self) -> int:
        return int(self.true.shape[0])

    @property
    def pred(self) -> torch.Tensor:
        return self.top_class[:, 0]

    @property
    def confidence(self) -> torch.Tensor:
        return self.top_prob[:, 0]

    def confusion(self, num_classes: int | None = None) -> list[list[int]]:
        """Rows = true class, columns = predicted class, as the evaluation's matrix is."""
        n = num_classes or len(self.classes) or int(max(self.true.max(), self.pred.max())) + 1
        cells = torch.bincount(self.true * n + self.pred, minlength=n * n).view(n, n)
        return [[int(v) for v in row] for row in cells.tolist()]

    def cell(self, true: int, pred: int, limit: int | None = None) -> list[int]:
        """The images of one cell of the confusion matrix: a mistake's most confident first; a correct
        cell's least confident first (the ones the model nearly got wrong)."""
        index = torch.nonzero((self.true == true) & (self.pred == pred)).flatten()
        conf = self.confidence[index]
        order = conf.argsort(descending=true != pred, stable=True)
        picked = index[order].tolist()
        return picked[:limit] if limit is not None else picked

    def confused_pairs(self, count: int) -> list[tuple[int, int, int]]:
        """The ``count`` most frequent (true, predicted, images) mistakes, most frequent first."""
        matrix = self.confusion()
        pairs = [(matrix[t][p], t, p) for t in range(len(matrix)) for p in range(len(matrix)) if t != p and matrix[t][p]]
        pairs.sort(key=lambda c: (-c[0], c[1], c[2]))
        return [(t, p, n) for n, t, p in pairs[:count]]


def gather(parts: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]) -> tuple[torch.Tensor, ...]:
    """(true, top_class, top_prob) of batches (or of ranks' shards, in rank order) as one set, on the CPU."""
    parts = [p for p in parts if len(p[0])]
    if not parts:
        return torch.zeros(0, dtype=torch.int64), torch.zeros(0, TOP_K, dtype=torch.int64), torch.zeros(0, TOP_K)
    return tuple(torch.cat([p[i].cpu() for p in parts]) for i in range(3))


def batch_top(y: torch.Tensor, log_probs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """One evaluation batch's (true, top_class, top_prob), kept on its device until the set is gathered."""
    k = min(TOP_K, log_probs.shape[1])
    values, indices = log_probs.float().topk(k, dim=1)
    return y, indices, values.exp()


def path_of(run_dir: Path, split: str) -> Path:
    return Path(run_dir) / FILE.format(split)


def save_predictions(run_dir: Path, preds: Predictions) -> Path:
    from safetensors.torch import save

    meta = {"split": preds.split, "epoch": str(preds.epoch), "classes": json.dumps(list(preds.classes))}
    blob = save({"true": preds.true.to(torch.int64).contiguous(), "top_class": preds.top_class.to(torch.int16).contiguous(),
                 "top_prob": preds.top_prob.to(torch.float32).contiguous()}, metadata=meta)
    path = path_of(run_dir, preds.split)
    atomic_write_bytes(path, blob)
    return path


def load_predictions(run_dir: Path, split: str) -> Predictions:
    """The kept predictions of ``split``; UserError (one line) when the run has none or the file is unreadable."""
    from safetensors import SafetensorError
    from safetensors.torch import load

    path = path_of(run_dir, split)
    try:
        blob = path.read_bytes()
    except FileNotFoundError:
        raise UserError(f"{run_dir}: no {split} predictions kept (an older run, or none evaluated yet); "
                        f"keep them with: resnet-tui evaluate {run_dir} --split {split} --keep") from None
    except OSError as e:
        raise UserError(f"{path}: cannot read it ({e.strerror or e})") from None
    try:
        tensors = load(blob)
        meta = _metadata(blob)
        preds = Predictions(tensors["true"].long(), tensors["top_class"].long(), tensors["top_prob"].float(),
                            meta.get("split", split), int(meta.get("epoch", 0)), tuple(json.loads(meta.get("classes", "[]"))))
    except (SafetensorError, KeyError, ValueError, TypeError) as e:
        raise UserError(f"{path}: not a predictions file ({e})") from None
    if preds.top_class.shape[0] != len(preds) or preds.top_prob.shape != preds.top_class.shape:
        raise UserError(f"{path}: its tensors disagree in length")
    return preds


def _metadata(blob: bytes) -> dict[str, str]:
    size = int.from_bytes(blob[:8], "little")
    header = json.loads(blob[8 : 8 + size])
    return dict(header.get("__metadata__") or {})
