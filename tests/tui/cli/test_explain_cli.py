"""`resnet-tui explain`, `mistakes` and `predict` on a terminal, in this process on the shared trained run."""

from __future__ import annotations

import json
import shutil

import pytest
import torch
from PIL import Image

from core.inference.predictions import load_predictions, save_predictions
from helpers import run_cli, write_image

PNG = b"\x89PNG\r\n\x1a\n"
pytestmark = pytest.mark.slow  # each draws with matplotlib or runs a model: the full suite runs these


def pictures(tmp_path, count: int = 2):
    paths = []
    for i in range(count):
        paths.append(tmp_path / "in" / f"img{i}.png")
        write_image(paths[-1], (40 * i + 60, 120, 200 - 50 * i), size=40)
    return paths


def test_explain_writes_one_png_per_image_and_json_agreeing_with_predict(trained_run, tmp_path, capsys):
    images = pictures(tmp_path)
    code, out, err = run_cli(capsys, "explain", trained_run, *images, "--out", tmp_path / "out", "--json")
    assert code == 0, err
    explained = json.loads(out)
    code, out, _ = run_cli(capsys, "predict", trained_run, *images, "--json")
    predicted = json.loads(out)
    for e, p, path in zip(explained, predicted, images):
        assert e["image"] == str(path) and set(e) >= {"image", "pred", "prob", "peak"}
        assert e["pred"] == p["top"][0]["class"] and abs(e["prob"] - p["top"][0]["prob"]) < 1e-5
        x, y = e["peak"]
        assert 0 <= x < 40 and 0 <= y < 40  # in the file's own pixels (the model saw 16)
        assert (tmp_path / "out" / f"{path.stem}-explain.png").read_bytes().startswith(PNG)


def test_explain_refuses_bad_input_in_one_line(trained_run, tmp_path, capsys):
    (image,) = pictures(tmp_path, 1)
    (tmp_path / "afile").write_text("x")
    for args, says in [((image,), "give --out DIR"), ((tmp_path / "nope.png", "--json"), "is not a file"),
                       ((image, "--out", tmp_path / "afile"), "exists and is not a folder")]:
        code, out, err = run_cli(capsys, "explain", trained_run, *args)
        assert code == 2 and says in err and len(err.strip().splitlines()) == 1, err
    code, _, err = run_cli(capsys, "explain", "no-such-run", image, "--json", "--run-dir", tmp_path)
    assert code == 2 and "no run 'no-such-run'" in err


def test_mistakes_draws_the_most_confused_pairs_as_png_and_html(trained_run, tmp_path, capsys):
    preds = load_predictions(trained_run, "test")
    (true, pred, count), *_ = preds.confused_pairs(2)
    code, out, err = run_cli(capsys, "mistakes", trained_run, "--out", tmp_path / "m.png", "--pairs", "2")
    assert code == 0 and "2 confused pairs" in out, err
    assert (tmp_path / "m.png").read_bytes().startswith(PNG)
    code, out, err = run_cli(capsys, "mistakes", trained_run, "--out", tmp_path / "m.html", "--pairs", "2")
    page = (tmp_path / "m.html").read_text()
    assert code == 0 and "<h2>Mistakes</h2>" in page and page.count("<img") == 1
    assert f"{preds.classes[true]} → {preds.classes[pred]} ({count})" in page


def test_mistakes_says_so_when_there_are_none_and_refuses_a_run_without_predictions(trained_run, tmp_path, capsys):
    run = tmp_path / "perfect"
    shutil.copytree(trained_run, run)
    p = load_predictions(run, "test")
    p.top_class[:, 0] = p.true  # every image right
    save_predictions(run, p)
    code, out, _ = run_cli(capsys, "mistakes", run, "--out", tmp_path / "none.png")
    assert code == 0 and "no mistakes" in out
    (run / "predictions-test.safetensors").unlink()
    code, _, err = run_cli(capsys, "mistakes", run, "--out", tmp_path / "m.png")
    assert code == 2 and "--keep" in err and not (tmp_path / "m.png").exists()
    code, _, err = run_cli(capsys, "mistakes", run, "--out", tmp_path / "m.txt")
    assert code == 2 and ".png or .html" in err


def test_evaluate_keep_writes_the_predictions_the_gallery_reads(trained_run, tmp_path, capsys):
    run = tmp_path / "copy"
    shutil.copytree(trained_run, run)
    kept = load_predictions(run, "test")
    (run / "predictions-test.safetensors").unlink()
    code, _, err = run_cli(capsys, "evaluate", run, "--keep", "--device", "cpu")
    assert code == 0 and "kept the test predictions" in err
    again = load_predictions(run, "test")
    assert torch.equal(again.top_class, kept.top_class)  # fp32 here and in the run: the same classes


def test_predict_on_a_terminal_shows_thumbnails_beside_the_bars(trained_run, tmp_path, capsys, monkeypatch):
    import tui.cli.inference

    images = pictures(tmp_path)
    monkeypatch.setattr(tui.cli.inference, "on_terminal", lambda: True)
    monkeypatch.setenv("COLUMNS", "300")  # the whole tmp path on the line beside the picture
    code, out, _ = run_cli(capsys, "predict", trained_run, *images)
    assert code == 0
    lines = out.splitlines()
    assert sum("▀" in line for line in lines) >= 16  # 40x40 pictures, 16 cells wide: 8 rows each
    assert any(line.startswith("▀") and str(images[0]) in line for line in lines)  # the bars beside the picture
    assert Image.open(images[0]).size == (40, 40)
    monkeypatch.setattr(tui.cli.inference, "on_terminal", lambda: False)
    code, out, _ = run_cli(capsys, "predict", trained_run, *images)
    assert "▀" not in out and out.startswith(f"{images[0]}: ")  # in a pipe it stays text


def test_explain_gives_every_image_its_own_png(tmp_path):
    from tui.cli.explain import out_names

    names = [p.name for p in out_names(["a/cat.jpg", "b/cat.jpg", "cat-2.jpg", "c/cat.png"], tmp_path)]
    assert names == ["cat-explain.png", "cat-2-explain.png", "cat-2-2-explain.png", "cat-3-explain.png"]
