"""The runs screen's experiment side: mark and compare runs, sort and filter the list, a sweep's runs under
its row with its summary. Run folders are written by hand with fixed figures, so the screens are exact."""

from __future__ import annotations

import json
from pathlib import Path


from core.runs.catalog import list_runs
from run_fakes import fake_run, make_app
from tui.app.runs_view import SweepGroup, arrange


def fake_sweep(root: Path, name: str = "depth-vs-lr") -> Path:
    from core.experiments.sweep import make_spec, points

    spec = make_spec(name, {"lr": [0.05, 0.1]}, {"arch": "resnet20", "dataset": "cifar10", "epochs": 2}, 2)
    folder = root / name
    folder.mkdir(parents=True)
    (folder / "sweep.json").write_text(json.dumps(spec))
    for i, p in enumerate(points(spec)):
        fake_run(folder / p.run, "resnet20", p.values["lr"], [0.6, 0.8 + 0.01 * i], day=10 + i, seed=p.seed)
    return folder


def three_runs(root: Path) -> list[Path]:
    return [fake_run(root / "resnet20-paper", "resnet20", 0.1, [0.52, 0.68, 0.81, 0.86], 1),
            fake_run(root / "resnet56-paper", "resnet56", 0.1, [0.48, 0.66, 0.83, 0.89], 2, params=855770, ips=900.0),
            fake_run(root / "resnet20-lr05", "resnet20", 0.05, [0.55, 0.7, 0.78, 0.82], 3)]


# ----------------------------------------------------------------------------- the list's order
def test_sort_filter_and_sweep_groups(tmp_path):
    three_runs(tmp_path)
    fake_sweep(tmp_path)
    runs = list_runs(tmp_path)

    def names(rows):
        return [r.name if isinstance(r, SweepGroup) else r.label for r in rows]

    by_date = names(arrange(runs, "date"))
    assert by_date[0] == "depth-vs-lr" and by_date[1:5] == [f"depth-vs-lr/{n}" for n in
                                                           ("lr0.1_seed1", "lr0.1_seed0", "lr0.05_seed1", "lr0.05_seed0")]
    assert by_date[5:] == ["resnet20-lr05", "resnet56-paper", "resnet20-paper"]
    by_acc = names(arrange(runs, "accuracy"))
    assert by_acc[0] == "resnet56-paper" and by_acc[1] == "resnet20-paper"  # 89% > 86% > the sweep's best 83%
    assert by_acc[2] == "depth-vs-lr" and by_acc[3] == "depth-vs-lr/lr0.1_seed1"
    by_arch = [n for n in names(arrange(runs, "arch")) if "/" not in n]
    assert by_arch.index("resnet56-paper") == len(by_arch) - 1  # resnet20 before resnet56 (depth, not letters)
    assert names(arrange(runs, "date", "resnet56")) == ["resnet56-paper"]
    assert names(arrange(runs, "date", "lr0.1 seed1")) == ["depth-vs-lr", "depth-vs-lr/lr0.1_seed1"]
    assert len(names(arrange(runs, "date", "depth"))) == 5  # the sweep's name keeps all its runs


def test_a_sweep_row_counts_its_whole_grid_not_the_runs_started(tmp_path):
    """A sweep whose last config never started is not '2/2 done': it is 2 of its 4 runs."""
    import shutil

    folder = fake_sweep(tmp_path)
    for run in ("lr0.1_seed0", "lr0.1_seed1"):
        shutil.rmtree(folder / run)
    (group,) = [r for r in arrange(list_runs(tmp_path), "date", "seed0") if isinstance(r, SweepGroup)]
    assert (group.planned, group.done, len(group.runs), group.live) == (4, 2, 1, False)  # the filter shows one run


# ----------------------------------------------------------------------------- in the app

async def test_mark_three_runs_and_compare_them(app_at):
    from textual.widgets import DataTable

    from tui.app.screens.compare import CompareScreen
    from tui.app.screens.runs import RunsScreen

    paths = three_runs(app_at)
    fake_sweep(app_at)
    async with make_app().run_test(size=(100, 30)) as pilot:
        await pilot.app.push_screen(RunsScreen("checkpoints"))
        await pilot.pause()
        screen = pilot.app.screen
        await pilot.press("c")  # nothing marked, cursor on the sweep's row: its runs
        await pilot.pause()
        assert isinstance(pilot.app.screen, CompareScreen) and len(pilot.app.screen.paths) == 4
        await pilot.press("escape")
        await pilot.pause()
        table = screen.query_one("#runs", DataTable)
        table.move_cursor(row=5)  # the first run after the sweep's five rows
        for _ in range(3):
            await pilot.press("space")
        await pilot.pause()
        assert {p.resolve() for p in screen.marked} == set(paths)
        await pilot.press("c")
        await pilot.pause()
        compare = pilot.app.screen
        assert isinstance(compare, CompareScreen) and {p.resolve() for p in compare.paths} == set(paths)
        rows = [[str(c) for c in compare.query_one("#compare-table", DataTable).get_row_at(i)]
                for i in range(compare.query_one("#compare-table", DataTable).row_count)]
        by_label = {r[0].strip(): r[1:] for r in rows}
        order = [p.name for p in compare.paths]
        assert by_label["final test acc"] == [{"resnet20-paper": "86.00%", "resnet56-paper": "89.00%",
                                               "resnet20-lr05": "82.00%"}[n] for n in order]
        assert by_label["parameters"][order.index("resnet56-paper")] == "0.86M"
        assert {r[0].strip() for r in rows if r[0].startswith("  ")} == {"arch", "lr"}  # only the settings that differ


async def test_sort_filter_keys_and_the_sweep_summary(app_at):
    from textual.widgets import DataTable, Input

    from tui.app.screens.runs import RunsScreen
    from tui.app.screens.sweep import SweepScreen

    three_runs(app_at)
    fake_sweep(app_at)
    async with make_app().run_test(size=(100, 30)) as pilot:
        await pilot.app.push_screen(RunsScreen("checkpoints"))
        await pilot.pause()
        screen = pilot.app.screen
        await pilot.press("o")  # date -> accuracy
        assert screen.sort == "accuracy" and screen.runs[0].name == "resnet56-paper"
        await pilot.press("slash", *"paper")
        await pilot.pause()
        assert screen.query_one("#runs-filter", Input).has_focus
        assert [r.name for r in screen.runs] == ["resnet56-paper", "resnet20-paper"]
        await pilot.press("escape")  # clears the filter, back to the list (the screen stays)
        await pilot.pause()
        assert pilot.app.screen is screen and len(screen.runs) == 8 and screen.query_one("#runs", DataTable).has_focus
        screen.query_one("#runs", DataTable).move_cursor(row=2)  # the sweep's row (after the two best runs)
        await pilot.press("enter")
        await pilot.pause()
        sweep = pilot.app.screen
        assert isinstance(sweep, SweepScreen)
        table = sweep.query_one("#sweep-summary", DataTable)
        rows = [[str(c) for c in table.get_row_at(i)] for i in range(table.row_count)]
        assert rows[0][:3] == ["lr=0.05", "80.50 ± 0.71 % (n=2)", "2/2"]
        assert rows[1][:3] == ["lr=0.1", "82.50 ± 0.71 % (n=2)", "2/2"]


def test_compare_view_snapshot(snap_compare, app_at):
    from tui.app.screens.compare import CompareScreen

    paths = three_runs(app_at)

    async def run_before(pilot):
        await pilot.app.push_screen(CompareScreen(paths))
        await pilot.pause()

    assert snap_compare(make_app(), terminal_size=(100, 30), run_before=run_before)


async def test_f_on_a_sweep_row_fine_tunes_its_best_run_and_d_deletes_the_sweep(app_at):
    from textual.widgets import DataTable

    from tui.app.screens.finetune import FinetuneScreen
    from tui.app.screens.runs import RunsScreen

    three_runs(app_at)
    folder = fake_sweep(app_at)
    oldest = folder / "lr0.05_seed0" / "run.json"  # made the best: not the newest run, which `f` would take
    oldest.write_text(json.dumps(json.loads(oldest.read_text()) | {"final_test_acc": 0.95}))
    async with make_app().run_test(size=(100, 30)) as pilot:
        await pilot.app.push_screen(RunsScreen("checkpoints"))
        await pilot.pause()
        screen = pilot.app.screen
        assert isinstance(screen.runs[0], SweepGroup)  # the newest: the cursor's row
        await pilot.press("f")
        await pilot.pause()
        finetune = pilot.app.screen
        assert isinstance(finetune, FinetuneScreen)
        assert Path(finetune.base.init_from).parent.resolve() == (folder / "lr0.05_seed0").resolve()
        labels = [label for label, _ in finetune.runs]
        assert any(label.startswith("depth-vs-lr/lr0.05_seed0 ") for label in labels)  # sweep runs carry their sweep
        await pilot.press("escape")
        await pilot.pause()
        assert pilot.app.screen is screen
        screen.query_one("#runs", DataTable).move_cursor(row=0)
        await pilot.press("d")
        await pilot.pause()
        await pilot.press("y")
        await pilot.pause()
        assert not folder.exists() and len(screen.runs) == 3


def test_short_names_keep_runs_apart():
    from tui.app.runs_view import short_names

    assert short_names(["nan2/lr10_seed0", "nan2/lr20_seed0"], 14) == ["lr10_seed0", "lr20_seed0"]  # one sweep
    two = short_names(["sweep-a/arch-resnet20_lr0.1_seed0", "sweep-b/arch-resnet20_lr0.1_seed1"], 14)
    assert len(set(two)) == 2 and all(len(n) <= 14 for n in two)
