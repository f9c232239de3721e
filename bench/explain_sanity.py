"""Grad-CAM's sanity checks (Adebayo et al., 2018), measured: prints the figures the tests hold to thresholds.

On the coloured-squares set (core.data.squares: the class is one square at a random place on grey noise) it
trains a CIFAR ResNet (default ResNet-8, n = 1; --depth 20 for ResNet-20) for two epochs, then prints, over
the held-out images:
  - how often the map's peak falls on the square: trained model, predicted class;
  - the same for the gradient of another class (the broken method: it should not);
  - with the weights randomised (three initialisations): the median Spearman rank correlation of the maps
    with the trained model's (low = the maps depend on what was learned), and their peaks on the square.

    uv run python bench/explain_sanity.py [--depth 20] [--images 300]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
import torch.nn.functional as F

from core.data.squares import COLOURS, make_squares, on_square
from core.inference.explain import explain_batch, rank_correlation
from core.models.cifar_resnet import CifarResNet


def normalise(images: torch.Tensor) -> torch.Tensor:
    return (images.float() / 255 - 0.5) / 0.25


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--depth", type=int, default=8)
    parser.add_argument("--images", type=int, default=300)
    args = parser.parse_args()
    torch.manual_seed(0)
    images, labels, _ = make_squares(1536, seed=1)
    x = normalise(images)
    model = CifarResNet(args.depth, num_classes=len(COLOURS))
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, nesterov=True, weight_decay=5e-4)
    start = time.perf_counter()
    for _ in range(2):
        for idx in torch.randperm(len(x)).split(128):
            opt.zero_grad()
            F.cross_entropy(model(x[idx]), labels[idx]).backward()
            opt.step()
    model.eval()
    test, test_labels, corners = make_squares(args.images, seed=2)
    tx = normalise(test)
    with torch.no_grad():
        accuracy = float((model(tx).argmax(1) == test_labels).float().mean())
    print(f"ResNet-{args.depth} trained {time.perf_counter() - start:.1f} s on 1536 squares; "
          f"held-out accuracy {100 * accuracy:.1f}% on {args.images}")
    trained = explain_batch(model, tx)
    print(f"peak on the square, predicted class:           {100 * on_square([e.peak for e in trained], corners):5.1f}%")
    wrong = explain_batch(model, tx, (test_labels + 1) % len(COLOURS))
    print(f"peak on the square, another class's gradient:  {100 * on_square([e.peak for e in wrong], corners):5.1f}%")
    for seed in (100, 101, 102):
        torch.manual_seed(seed)
        random = explain_batch(CifarResNet(args.depth, num_classes=len(COLOURS)).eval(), tx)
        rho = statistics.median(rank_correlation(a.heat, b.heat) for a, b in zip(trained, random))
        print(f"randomised weights (seed {seed}): median rank correlation with the trained maps {rho:+.3f}; "
              f"peak on the square {100 * on_square([e.peak for e in random], corners):5.1f}%")


if __name__ == "__main__":
    main()
