"""`resnet-tui report`: PNG and self-contained HTML for one run, several runs and a sweep, on tiny real runs."""

from __future__ import annotations

import base64
import errno
import json
import os
import re
import shutil
from pathlib import Path

import pytest
from helpers import run_cli
from PIL import Image

TINY = ["--dataset", "synthetic", "--train-subset", "200", "--batch-size", "50", "--image-size", "16", "--epochs", "2",
        "--device", "cpu", "--arch", "simplecnn"]


def _main(*args) -> None:
    from tui.cli.main import main

    with pytest.raises(SystemExit) as e:
        main([str(a) for a in args])
    assert e.value.code == 0


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> Path:
    """A runs folder with a 2-epoch run r1."""
    root = tmp_path_factory.mktemp("runs")
    _main("train", *TINY, "--lr", "0.05", "--run-dir", root, "--name", "r1")
    return root


@pytest.fixture(scope="module")
def swept(runs) -> Path:
    """Next to r1: r2 (another lr) and a sweep g (lr 0.05,0.1 x 2 seeds)."""
    _main("train", *TINY, "--lr", "0.1", "--run-dir", runs, "--name", "r2")
    _main("sweep", *TINY, "--lr", "0.05,0.1", "--seeds", "2", "--name", "g", "--run-dir", runs)
    return runs / "g"


def _png_ok(data: bytes) -> tuple[int, int]:
    import io

    Image.open(io.BytesIO(data)).verify()
    with Image.open(io.BytesIO(data)) as im:
        assert im.format == "PNG"
        return im.size


def _html_images(text: str) -> list[bytes]:
    return [base64.b64decode(m) for m in re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', text)]


def _no_external_links(text: str) -> None:
    assert not re.search(r"""(src|href)\s*=\s*["']?\s*(https?:)?//""", text, re.I)
    assert "http://" not in text and "https://" not in text


def test_one_run_png_and_html(capsys, runs, tmp_path):
    out = tmp_path / "r1.png"
    code, stdout, err = run_cli(capsys, "report", "r1", "--run-dir", runs, "--out", out)
    assert code == 0, err
    assert stdout.startswith(f"wrote {out} (") and stdout.strip().endswith("KiB): 1 run")
    width, height = _png_ok(out.read_bytes())
    assert width == 1200 and 1000 < height < 4500  # the run's page, then its mistakes (it kept its predictions)
    assert 20 * 1024 < out.stat().st_size < 1500 * 1024

    page = tmp_path / "r1.html"
    code, _, err = run_cli(capsys, "report", runs / "r1", "--out", page)
    assert code == 0, err
    text = page.read_text()
    images = _html_images(text)
    assert text.count("data:image/png;base64,") == len(images) == 3  # curves, matrix, mistakes
    assert all(_png_ok(i)[0] == 1200 for i in images)
    assert "<h2>Mistakes</h2>" in text and "images misclassified" in text
    classes = json.loads((runs / "r1" / "config.json").read_text())["classes"]
    assert len(classes) == 10 and all(f"<td>{c}</td>" in text for c in classes)
    for key, value in (("arch", "simplecnn"), ("lr", "0.05"), ("batch_size", "50"), ("image_size", "16"),
                       ("device", "cpu"), ("precision", "fp32")):
        assert f"<td>{key}</td><td>{value}</td>" in text
    _no_external_links(text)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r1.html", "r1.png"]  # no temp file left


def test_the_run_figure_names_the_classes_on_the_heatmap_and_draws_the_recorded_per_class_accuracy(runs):
    from core.runs.facts import run_facts
    from tui.cli.report_draw import run_figure

    classes = json.loads((runs / "r1" / "config.json").read_text())["classes"]
    rows = [json.loads(line) for line in (runs / "r1" / "metrics.jsonl").read_text().splitlines()]
    fig = run_figure(run_facts(runs / "r1"), "today")
    ax = {a.get_label(): a for a in fig.axes}
    heat = ax["confusion"]
    assert [t.get_text() for t in heat.get_xticklabels()] == classes  # columns: predicted
    assert [t.get_text() for t in heat.get_yticklabels()] == classes  # rows: true
    assert heat.get_xlabel() == "predicted" and heat.get_ylabel() == "true"
    counts = [int(t.get_text()) for t in heat.texts]
    assert counts == [v for row in rows[-1]["confusion"] for v in row]  # the cell counts, row by row

    bars = ax["per-class"]
    assert [t.get_text() for t in bars.get_yticklabels()] == classes
    assert [p.get_width() for p in bars.patches] == pytest.approx([100 * a for a in rows[-1]["per_class_acc"]])

    for name in ("loss", "accuracy"):  # whole epochs on x; train and test lines of both epochs
        assert all(float(x).is_integer() for x in ax[name].get_xticks())
        assert [list(line.get_xdata()) for line in ax[name].get_lines()] == [[1, 2], [1, 2]]
    acc = ax["accuracy"].get_lines()[1]
    assert list(acc.get_ydata()) == pytest.approx([100 * r["test_acc"] for r in rows])


@pytest.mark.slow
def test_several_runs_and_a_sweep_overlay_their_curves_and_summarise(capsys, runs, swept, tmp_path):
    from core.experiments import sweep
    from core.experiments.report_data import ReportData, sweep_data
    from core.runs.facts import run_facts
    from tui.cli.report_draw import compare_figure

    rows = sweep.summary(swept)
    for suffix in ("png", "html"):
        out = tmp_path / f"sweep.{suffix}"
        code, stdout, err = run_cli(capsys, "report", "g", "--run-dir", runs, "--out", out)
        assert code == 0 and stdout.strip().endswith("1 sweep of 4 runs"), err
    assert _png_ok((tmp_path / "sweep.png").read_bytes())[0] == 1200
    text = (tmp_path / "sweep.html").read_text()
    assert len(_html_images(text)) == 1 and all(_png_ok(i) for i in _html_images(text))
    for row in rows:
        assert f"<td>{row['label']}</td><td>{sweep.mean_std_text(row)}</td>" in text
    assert all(f"<td>g/{name}</td>" in text for row in rows for name in row["runs"])  # the runs table
    assert "<th>lr</th><th>seed</th>" in text  # the config keys that differ
    _no_external_links(text)

    code, stdout, err = run_cli(capsys, "report", "r1", "r2", "g", "--run-dir", runs, "--out", tmp_path / "all.png")
    assert code == 0 and "2 runs and 1 sweep of 4 runs" in stdout, err

    def curves(data: ReportData) -> tuple[list[str], int, int]:
        ax = {a.get_label(): a for a in compare_figure(data, "today").axes}
        labels = [t.get_text() for t in ax["accuracy"].get_legend().get_texts()]
        assert labels == [line.get_label() for line in ax["accuracy"].get_lines()]
        return labels, len(ax["loss"].get_lines()), len(ax["accuracy"].collections)

    alone = ReportData([run_facts(runs / "r1"), run_facts(runs / "r2")], [])
    assert curves(alone) == (["r1", "r2"], 2, 0)
    g = sweep_data(swept)
    assert curves(ReportData([], [g])) == (["lr=0.05 (mean of 2)", "lr=0.1 (mean of 2)"], 2, 2)  # a band per config
    assert curves(ReportData([run_facts(runs / "r1")], [g])) == (["r1", "g: lr=0.05 (mean of 2)", "g: lr=0.1 (mean of 2)"], 3, 2)
    fig = compare_figure(ReportData([], [g]), "today")
    band = fig.axes[1].collections[0].get_paths()[0].vertices[:, 1]
    seeds = [[100 * json.loads(line)["test_acc"] for line in (swept / r / "metrics.jsonl").read_text().splitlines()]
             for r in rows[0]["runs"]]
    assert min(band) == pytest.approx(min(min(s) for s in seeds)) and max(band) == pytest.approx(max(max(s) for s in seeds))


def test_a_run_without_finished_epochs_still_gets_a_report(capsys, runs, tmp_path):
    young = tmp_path / "young"
    young.mkdir()
    shutil.copy(runs / "r1" / "config.json", young / "config.json")  # started, no epoch finished yet
    for suffix in ("png", "html"):
        code, _, err = run_cli(capsys, "report", young, "--out", tmp_path / f"young.{suffix}")
        assert code == 0, err
    assert _png_ok((tmp_path / "young.png").read_bytes())


def test_the_html_escapes_every_recorded_string(capsys, runs, tmp_path):
    hostile = tmp_path / "hostile"
    shutil.copytree(runs / "r1", hostile, ignore=shutil.ignore_patterns("*.pt", "run.lock"))
    config = json.loads((hostile / "config.json").read_text())
    config["classes"][0] = "<script>alert(1)</script>"
    config["train"]["data"] = '"><img src=x onerror=alert(2)>'
    (hostile / "config.json").write_text(json.dumps(config))
    code, _, err = run_cli(capsys, "report", hostile, "--out", tmp_path / "h.html")
    assert code == 0, err
    text = (tmp_path / "h.html").read_text()
    assert "<td>&lt;script&gt;alert(1)&lt;/script&gt;</td>" in text and "<script" not in text
    assert "&quot;&gt;&lt;img src=x onerror=alert(2)&gt;" in text and "<img src=x" not in text


def test_bad_input_is_one_line_exit_2_and_writes_nothing(capsys, runs, tmp_path):
    (tmp_path / "empty").mkdir()
    (tmp_path / "file.txt").write_text("not a run")
    out = tmp_path / "out" / "r.png"
    out.parent.mkdir()
    cases = {
        "an empty folder": ["report", tmp_path / "empty", "--out", out],
        "a file": ["report", tmp_path / "file.txt", "--out", out],
        "a missing name": ["report", "nope", "--run-dir", runs, "--out", out],
        "a good run then a bad one": ["report", runs / "r1", "nope", "--run-dir", runs, "--out", out],
        "--out in a missing folder": ["report", runs / "r1", "--out", tmp_path / "missing" / "r.png"],
        "--out x.pdf": ["report", runs / "r1", "--out", out.with_suffix(".pdf")],
        "--out a folder": ["report", runs / "r1", "--out", tmp_path / "out.png"],
        "no arguments": ["report", "--out", out],
        "nothing at all": ["report"],
    }
    (tmp_path / "out.png").mkdir()
    for what, args in cases.items():
        code, stdout, err = run_cli(capsys, *args)
        assert code == 2 and stdout == "", what
        assert err.startswith("Error: ") and err.count("\n") == 1, (what, err)
        assert list(out.parent.iterdir()) == [] and not (tmp_path / "missing").exists(), what
    assert "not a run folder" in run_cli(capsys, *cases["an empty folder"])[2]
    assert ".png or .html" in run_cli(capsys, *cases["--out x.pdf"])[2]


def test_a_failed_write_keeps_the_old_report_and_leaves_no_temp_file(capsys, runs, tmp_path, monkeypatch):
    out = tmp_path / "r.png"
    out.write_bytes(b"the old report")

    def disk_full(fd):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "fsync", disk_full)  # the disk fills as the new report is flushed
    code, _, err = run_cli(capsys, "report", runs / "r1", "--out", out)
    assert code == 2 and err.count("\n") == 1 and "No space left on device" in err
    assert out.read_bytes() == b"the old report" and [p.name for p in tmp_path.iterdir()] == ["r.png"]


def test_runs_table_has_one_epochs_column_and_synthetic_runs_differ_in_no_data_folder(tmp_path):
    from core.experiments.report_data import runs_table
    from core.runs.facts import RunFacts

    def facts(name: str, epochs: int, data: str) -> RunFacts:
        return RunFacts(path=tmp_path / name, name=name, status="completed", epochs=epochs, epochs_done=epochs,
                        config={"name": name, "arch": "resnet20", "epochs": epochs, "data": data, "lr": 0.1,
                                "dataset": "synthetic"}, classes=[], metrics=[], final_test_acc=0.5,
                        best_val_acc=None, train_seconds=1.0, images_per_sec=100.0, params=1000)

    header, rows = runs_table([facts("a", 1, "/x/data"), facts("b", 2, "/y/data")])
    assert header.count("epochs") == 1 and "data" not in header and [r[4] for r in rows] == ["1/1", "2/2"]


def test_a_one_epoch_curve_has_one_whole_epoch_tick():
    from matplotlib.figure import Figure

    from core.experiments.report_data import Series
    from tui.cli.report_draw import curves

    ax = Figure().add_subplot()
    curves(ax, [Series("a", [1], [0.5]), Series("b", [1], [0.6])], "t", "acc", percent=True)
    assert list(ax.get_xticks()) == [1]
