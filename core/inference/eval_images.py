"""The images behind a run's kept predictions: its validation or test split, rebuilt from the run's own data
settings by the same seeded code that made it (an image folder is listed, not decoded: only the images shown
are read).

The kept labels must equal the rebuilt split's, image by image; when they do not (the folder changed, the
dataset moved), showing pictures would put the wrong image under a prediction, so it is refused in one line.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from core.config.train_config import TrainConfig
from core.errors import DataError, UserError
from core.inference.predictions import Predictions
from core.runs import layout


@dataclass
class SplitImages:
    images: object  # core.data.ImageSet (resident) or core.data.files.FileSet (listed)
    image_size: int
    fit: str = "squash"

    def pixels(self, i: int) -> torch.Tensor:
        """Image ``i`` as uint8 3 x H x W, as the model was shown it at evaluation."""
        if getattr(self.images, "resident", True):
            return self.images.images[i].cpu()  # type: ignore[attr-defined]
        from core.data.folder import decode_image

        return torch.from_numpy(decode_image(self.images.path(i), self.image_size, self.fit))  # type: ignore[attr-defined]

    def name(self, i: int, split: str) -> str:
        """A file's path, or the image's place in its split (``test #42``)."""
        if not getattr(self.images, "resident", True):
            return str(self.images.path(i))  # type: ignore[attr-defined]
        return f"{split} #{i}"


def run_config(run_dir: Path) -> tuple[TrainConfig, dict]:
    """The run's TrainConfig and the facts its data turned out to have (config.json's "data")."""
    saved = layout.read_json(Path(run_dir) / layout.CONFIG)
    if not saved or not isinstance(saved.get("train"), dict):
        raise UserError(f"{run_dir}: not a run folder (no readable {layout.CONFIG})")
    facts = saved.get("data")
    return TrainConfig.from_run(saved["train"]), facts if isinstance(facts, dict) else {}


def split_images(run_dir: Path, preds: Predictions) -> SplitImages:
    """The images of ``preds``' split, checked against its labels; UserError/DataError in one line."""
    from core.data import load_splits
    from core.data.own_images import split_fits

    cfg, facts = run_config(run_dir)
    cfg = cfg.replace(download=False)  # showing pictures never downloads a dataset
    if cfg.dataset == "folder":
        cfg = cfg.replace(data_in_memory="no", workers=0)
    _, val, test, _, extra = load_splits(cfg)
    images = val if preds.split == "val" else test
    recorded, now = facts.get("split_digest"), extra.get("split_digest")
    if recorded and now and recorded != now:  # an image folder whose files changed (renamed, swapped, replaced)
        raise DataError(f"{run_dir}: {cfg.data} holds other images than when the run evaluated them; "
                        "its pictures cannot be shown")
    if images is not None and cfg.skip_bad_images and len(preds) < len(images):
        raise DataError(f"{run_dir}: its evaluation skipped {len(images) - len(preds)} unreadable images "
                        "(--skip-bad-images), so its kept rows cannot be matched to pictures")
    if images is None or len(images) != len(preds) or not torch.equal(images.labels.cpu(), preds.true):
        found = "none" if images is None else f"{len(images)}"
        raise DataError(f"{run_dir}: its {preds.split} images ({found} now in {cfg.data}) are not the ones it evaluated "
                        f"({len(preds)}); the data moved or changed since")
    fit = split_fits(cfg).get(preds.split, "squash") if cfg.dataset == "folder" else "squash"
    return SplitImages(images, int(images.image_size), fit)
