"""The app's view of a search: its row on the runs screen opens the trials by validation accuracy, the
best-so-far curve and the importances; enter opens a trial's run. The study is a real Optuna SQLite study."""

from __future__ import annotations

from run_fakes import fake_search, make_app


async def test_a_search_row_opens_its_trials_by_validation_accuracy_with_the_importances(app_at):
    from textual.widgets import DataTable, Static

    from tui.app.screens.run_detail import RunDetailScreen
    from tui.app.screens.runs import RunsScreen
    from tui.app.screens.search import SearchScreen

    fake_search(app_at)
    async with make_app().run_test(size=(120, 40)) as pilot:
        await pilot.app.push_screen(RunsScreen("checkpoints"))
        await pilot.pause()
        table = pilot.app.screen.query_one("#runs", DataTable)
        first = [str(c) for c in table.get_row_at(0)]
        assert "▾ hunt" in first and "search" in first and "4/6 done" in first  # 4 completed of the 6 asked for
        table.move_cursor(row=0)
        await pilot.press("enter")
        screen = pilot.app.screen
        assert isinstance(screen, SearchScreen)
        for _ in range(50):  # read in a thread
            await pilot.pause(0.1)
            if screen.rows:
                break
        trials = screen.query_one("#search-trials", DataTable)
        order = [str(trials.get_row_at(i)[0]) for i in range(trials.row_count)]
        assert order == ["1", "4", "0", "2", "3"]  # complete by val acc, then the pruned one
        assert [str(c) for c in trials.get_row_at(0)][:5] == ["1", "complete", "resnet32", "0.3", "83.00"]  # params by name
        head = str(screen.query_one("#search-head", Static).render())
        assert "best: trial 1 val 83.00%, test 81.50% (after the trials)" in head
        bars = str(screen.query_one("#search-importance", Static).render())
        assert bars.startswith("importance (fANOVA)") and "lr" in bars and "arch" in bars and "█" in bars
        assert screen.query_one("#search-best").plt is not None
        await pilot.press("enter")  # the best trial's run (finished: its detail)
        await pilot.pause()
        assert isinstance(pilot.app.screen, RunDetailScreen) and pilot.app.screen.path.name == "trial-001"


def test_best_so_far_only_rises_over_completed_trials():
    from core.experiments.search_results import best_so_far

    rows = [{"number": n, "val_acc": v} for n, v in enumerate([0.5, None, 0.4, 0.7, 0.6])]
    assert best_so_far(rows) == [(0, 0.5), (2, 0.5), (3, 0.7), (4, 0.7)]
