"""`predict` gives the right answer: the classes and probabilities of the model on the normalised image.

The expected top-k is computed here from the checkpoint's own pieces (load_trained -> Normalize(mean, std)
-> model -> softmax -> topk; with TTA the mean over the image and its horizontal flip) and the class names
from the dataset itself, then compared with core.inference.trained.predict_images and with the CLI. The images are
a trained run's own test images written as lossless PNGs, chosen so that the model gets them right and
they cover several classes: a missing normalisation, a shuffled class list or an ignored --tta all show.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers import built_once

from core.data import Normalize, load_data
from core.data.folder import decode_image
from core.inference.trained import load_trained, predict_images
from tui.cli.main import main

TOP_K = 3
MIN_CLASSES = 4


@pytest.fixture(scope="module")
def small_run(tmp_path_factory) -> Path:
    """A real run (simplecnn, 1 epoch of 1,000 synthetic images, ~1-2 s) that is right about a third of the
    time and spreads its predictions over several classes. (The session `trained_run`, a 1-epoch resnet20
    on 200 images, answers the same class for every image, which would hide a shuffled class list.)"""
    def train(root: Path) -> Path:
        with pytest.raises(SystemExit) as exit_info:
            main(["train", "--dataset", "synthetic", "--arch", "simplecnn", "--train-subset", "1000", "--batch-size",
                  "50", "--optimizer", "adam", "--lr", "0.003", "--epochs", "1", "--device", "cpu",
                  "--run-dir", str(root), "--name", "p"])
        assert exit_info.value.code == 0
        return root / "p"

    return built_once(tmp_path_factory, "predict-run", train)  # once for both xdist workers


def expected_top(trained, images: torch.Tensor, k: int, tta: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """(probabilities, class indices), best first, computed independently of predict_images."""
    normalize = Normalize(trained.mean, trained.std, torch.device("cpu"))
    with torch.no_grad():
        x = normalize(images.clone())
        probs = trained.model(x).softmax(1)
        if tta:
            probs = (probs + trained.model(x.flip(3)).softmax(1)) / 2
    return probs.topk(k, dim=1)


@pytest.fixture(scope="module")
def images(small_run, tmp_path_factory):
    """The run's own test images, one per class the model gets right, as PNGs; with the model and truth."""
    trained = load_trained(small_run, "cpu")
    data = load_data(trained.config.replace(train_subset=0, image_size=trained.image_size))
    assert list(data.classes) == list(trained.classes)
    test = data.test
    _, top1 = expected_top(trained, test.images[:300], 1, tta=False)
    picked: list[int] = []
    seen: set[int] = set()
    for i, (pred, label) in enumerate(zip(top1[:, 0].tolist(), test.labels[:300].tolist())):
        if pred == label and label not in seen:
            picked.append(i)
            seen.add(label)
    assert len(seen) >= MIN_CLASSES, f"the run got only classes {sorted(seen)} right; the test needs several"

    from PIL import Image

    folder = tmp_path_factory.mktemp("pngs")
    paths = []
    for i in picked:
        path = folder / f"img{i:04d}.png"
        pixels = test.images[i]
        Image.fromarray(pixels.permute(1, 2, 0).numpy()).save(path, format="PNG")
        # lossless: predict decodes exactly the pixels the model is checked on
        assert np.array_equal(decode_image(path, trained.image_size), pixels.numpy())
        paths.append(path)
    true_names = [data.classes[int(test.labels[i])] for i in picked]
    return trained, paths, test.images[picked], true_names


def check(top, trained, probs: torch.Tensor, indices: torch.Tensor) -> None:
    """`top` is [(class name, probability), ...] for one image."""
    assert [c for c, _ in top] == [trained.classes[i] for i in indices.tolist()]
    assert [p for _, p in top] == pytest.approx(probs.tolist(), abs=1e-5)


@pytest.mark.parametrize("tta", [False, True], ids=["plain", "tta"])
def test_predict_images_gives_the_models_top_k(images, tta):
    trained, paths, pixels, true_names = images
    probs, indices = expected_top(trained, pixels, TOP_K, tta)
    predictions = predict_images(trained, paths, top_k=TOP_K, tta=tta)
    assert [p.path for p in predictions] == [str(p) for p in paths]
    for pred, pr, ix in zip(predictions, probs, indices):
        check(pred.top, trained, pr, ix)
    if not tta:
        # the names are the dataset's: the images were picked because the model gets them right
        assert [p.top[0][0] for p in predictions] == true_names
        assert len(set(true_names)) >= MIN_CLASSES


def test_tta_changes_the_probabilities(images):
    """Otherwise the TTA test above could not tell an ignored --tta from a working one."""
    trained, _, pixels, _ = images
    plain, _ = expected_top(trained, pixels, 1, tta=False)
    tta, _ = expected_top(trained, pixels, 1, tta=True)
    assert (plain - tta).abs().max() > 1e-3


@pytest.mark.parametrize("tta", [False, True], ids=["plain", "tta"])
def test_cli_predict_json_gives_the_models_top_k(capsys, images, small_run, tta):
    trained, paths, pixels, true_names = images
    k = 2
    probs, indices = expected_top(trained, pixels, k, tta)
    args = ["predict", str(small_run), *map(str, paths), "--top-k", str(k), "--device", "cpu", "--json"]
    with pytest.raises(SystemExit) as exit_info:
        main(args + (["--tta"] if tta else []))
    out, err = capsys.readouterr()
    assert exit_info.value.code == 0, err
    rows = json.loads(out)
    assert [r["image"] for r in rows] == [str(p) for p in paths]
    for row, pr, ix in zip(rows, probs, indices):
        check([(t["class"], t["prob"]) for t in row["top"]], trained, pr, ix)
    if not tta:
        assert [r["top"][0]["class"] for r in rows] == true_names
