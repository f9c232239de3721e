"""Which images of an image folder are training, validation and test images: the layouts we accept and the
seeded test split of a folder that has none. Lists files only; nothing is decoded. Torch-free.

Layouts of ``--data ROOT`` (class folders hold the images; class names are the folder names):

* ``ROOT/train/<class>/`` and ``ROOT/test/<class>/``: the splits as given;
* ``ROOT/<class>/`` alone (what torchvision's ImageFolder takes), or ``ROOT/train/`` without ``test/``: the test
  images are held out of each class by ``--test-split`` (a fraction, or a count spread over the classes);
* ``ROOT/val/<class>/`` beside either: the validation split (``--val-split`` is then not used).

The held-out images are chosen per class by a seeded hash of each file's path, so the split depends on
nothing but ``--split-seed``, the fraction and the files: every run, evaluation, resume, fine-tune and sweep
trial of the same folder gets the same test images, and adding images to a class moves almost none of the
others. ``split_digest`` names the test images; the run records it, and a run resumed or evaluated on a folder
whose split has since changed is told so.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

from core.errors import DataError

IMAGE_EXTENSIONS = {".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff", ".ppm", ".pgm"}
SPLIT_FOLDERS = ("train", "val", "test")

Files = list[tuple[Path, int]]  # (path, class index)


@dataclass
class FolderScan:
    root: Path
    layout: str  # "train/ + test/", "class folders", "train/ (no test/)", with " + val/" when present
    classes: list[str]
    files: dict[str, Files]  # "train", "test", and "val" when the folder has one
    skipped: dict[str, int] = field(default_factory=dict)  # split folder -> non-image files ignored
    held_out: str = ""  # how the test split was made ("" when test/ is a folder)

    def counts(self, split: str) -> list[int]:
        out = [0] * len(self.classes)
        for _, c in self.files.get(split, []):
            out[c] += 1
        return out

    def split_digest(self, split: str = "test") -> str:
        """A short name for exactly which images a split holds (their paths relative to the root)."""
        h = hashlib.sha1()
        for p, c in sorted(self.files.get(split, []), key=lambda e: e[0].as_posix()):
            h.update(f"{p.relative_to(self.root).as_posix()}|{c}\n".encode())
        return h.hexdigest()[:16]

    def decoded_bytes(self, image_size: int) -> int:
        """What every split takes decoded: uint8 RGB squares of ``image_size``."""
        return sum(len(f) for f in self.files.values()) * 3 * image_size * image_size

    def describe(self) -> str:
        """One line: the layout, the split and the sizes."""
        sizes = ", ".join(f"{len(self.files[s])} {s}" for s in SPLIT_FOLDERS if s in self.files)
        held = f"; test = {self.held_out}" if self.held_out else ""
        return f"{self.layout}: {len(self.classes)} classes, {sizes}{held}"


def _class_dirs(folder: Path, exclude: tuple[str, ...] = ()) -> list[Path]:
    return sorted((d for d in folder.iterdir() if d.is_dir() and not d.name.startswith(".") and d.name not in exclude),
                  key=lambda d: d.name)


def _list_split(folder: Path, index: dict[str, int] | None, root: Path, exclude: tuple[str, ...] = ()) -> tuple[list[str], Files, int]:
    """(class names, files, non-image files) of one split folder; ``index`` maps the known class names (None:
    this folder defines them)."""
    dirs = _class_dirs(folder, exclude)
    if not dirs:
        raise DataError(f"--data {folder} has no class folders; expected {folder}/<class>/<image files>")
    names = [d.name for d in dirs]
    if index is None:
        index = {name: i for i, name in enumerate(names)}
    files: Files = []
    skipped = 0
    for d in dirs:
        if d.name not in index:
            raise DataError(f"{d} is a class that {root} does not train on (its training classes: "
                            f"{', '.join(list(index)[:6])}{', ...' if len(index) > 6 else ''})")
        images = []
        for f in sorted(d.iterdir()):
            if f.is_file() and f.suffix.lower() in IMAGE_EXTENSIONS:
                images.append(f)
            elif f.is_file():
                skipped += 1
        if not images:
            raise DataError(f"class folder {d} has no images ({', '.join(sorted(IMAGE_EXTENSIONS))}); "
                            f"add some or remove the folder")
        files.extend((f, index[d.name]) for f in images)
    return names, files, skipped


def scan_folder(root: Path, test_split: float = 0.2, split_seed: int = 0) -> FolderScan:
    """List the images of every split, holding the test images out when there is no test/ folder."""
    if not isinstance(test_split, (int, float)) or not 0 <= test_split < float("inf") or (test_split >= 1 and test_split != int(test_split)):
        raise DataError(f"--test-split must be 0, a fraction below 1 or a whole number of images (got {test_split!r})")
    if not root.is_dir():
        raise DataError(f"--data {root} is not a folder; expected {root}/<class>/<images> or {root}/train/ and {root}/test/")
    has = {s: (root / s).is_dir() for s in SPLIT_FOLDERS}
    if has["train"]:
        train_dir, layout = root / "train", "train/ + test/" if has["test"] else "train/ (no test/)"
        classes, train, skipped_train = _list_split(train_dir, None, root)
    else:
        if has["test"]:
            raise DataError(f"--data {root} has test/ but no train/; expected {root}/train/<class>/ beside it, "
                            f"or class folders alone")
        train_dir, layout = root, "class folders"
        classes, train, skipped_train = _list_split(root, None, root, exclude=("val",))
    index = {name: i for i, name in enumerate(classes)}
    files: dict[str, Files] = {"train": train}
    skipped = {"train": skipped_train}
    for split in ("val", "test"):
        if has[split]:
            _, files[split], skipped[split] = _list_split(root / split, index, root)
    held_out = ""
    if not has["test"]:
        files["train"], files["test"], held_out = hold_out(train, classes, test_split, split_seed, train_dir)
    if has["val"]:
        layout += " + val/"
    return FolderScan(root, layout, classes, files, skipped, held_out)


def _quotas(sizes: list[int], test_split: float) -> list[int]:
    """Test images per class: a fraction of each class (at least one), or a count spread in proportion."""
    if test_split < 1:
        return [max(1, round(n * test_split)) for n in sizes]
    count, total = int(test_split), sum(sizes)
    quotas = [count * n // total for n in sizes]
    by_size = sorted(range(len(sizes)), key=lambda c: -sizes[c])
    for c in by_size[: count - sum(quotas)]:
        quotas[c] += 1
    return [max(1, q) for q in quotas]


def hold_out(files: Files, classes: list[str], test_split: float, seed: int, folder: Path) -> tuple[Files, Files, str]:
    """(train, test, how): each class gives its share of test images, chosen by a seeded hash of their paths."""
    if test_split <= 0:
        raise DataError(f"--data {folder} has no test/ folder and --test-split is 0: add {folder.parent if folder.name == 'train' else folder}/test/<class>/ "
                        f"or hold some images out with --test-split 0.2")
    per_class: list[Files] = [[] for _ in classes]
    for entry in files:
        per_class[entry[1]].append(entry)
    sizes = [len(p) for p in per_class]
    if test_split >= 1 and int(test_split) >= sum(sizes):
        raise DataError(f"--test-split {int(test_split)} holds out all {sum(sizes)} images of {folder}")
    quotas = _quotas(sizes, test_split)
    short = [(classes[c], sizes[c]) for c in range(len(classes)) if quotas[c] >= sizes[c]]
    if short:
        name, n = short[0]
        others = f" (and {len(short) - 1} more classes)" if len(short) > 1 else ""
        raise DataError(f"class {name!r} has {n} image{'s' if n != 1 else ''}: too few to hold out a test image and "
                        f"still train on it{others}; add images, or give {folder}/../test/ its own folder")
    train: Files = []
    test: Files = []
    for entries, q in zip(per_class, quotas):
        ranked = sorted(entries, key=lambda e: _rank(seed, e[0].relative_to(folder).as_posix()))
        test.extend(ranked[:q])
        train.extend(ranked[q:])
    order = {p: i for i, (p, _) in enumerate(files)}
    train.sort(key=lambda e: order[e[0]])
    test.sort(key=lambda e: order[e[0]])
    what = f"{test_split:g} of each class" if test_split < 1 else f"{int(test_split)} images"
    return train, test, f"{len(test)} images held out ({what}, --split-seed {seed})"


def _rank(seed: int, name: str) -> bytes:
    return hashlib.blake2b(f"{seed}|{name}".encode(), digest_size=8).digest()
