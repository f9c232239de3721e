"""The fine-tune screen: pick a trained checkpoint and a new dataset, choose what to freeze, train.

The checkpoint comes from the runs list (or a typed path); its architecture, classes and input
size are read in a worker thread. The new dataset's classes and image counts are shown before
starting. Training then runs on the usual training screen, with a confusion matrix sized to the
new classes.
"""

from __future__ import annotations


from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widgets import Footer, Header, Input, Label, Select, Static

from core.config.finetune_defaults import finetune_base, from_parent
from core.config.train_config import TrainConfig
from tui.app.form import FINETUNE_FIELDS
from tui.app.screens.form_screen import FormScreen

TYPED = "__typed__"  # the runs list entry that means "use the path typed below"


def run_choices(runs_dir: str) -> list[tuple[str, str]]:
    """Runs with trained weights, newest first, as (label, path to final.pt or last.pt)."""
    from core.runs.catalog import list_runs
    from core.train.checkpoint import run_weights

    out = []
    for r in list_runs(runs_dir):
        weights = run_weights(r.path)
        if weights is not None:
            acc = f"  test {100 * r.final_test_acc:.1f}%" if r.final_test_acc is not None else ""
            out.append((f"{r.label}  ({r.arch}, {r.status}){acc}", str(weights)))
    return out + [("a path typed below", TYPED)]


def freeze_choices(stages: int) -> list[tuple[str, str]]:
    options = [("none: train everything", "none"), ("backbone: a linear probe (head only)", "backbone")]
    options += [(f"stages:{k}: the last {k} stage{'s' if k > 1 else ''} and the head", f"stages:{k}") for k in range(1, stages)]
    return options


class FinetuneScreen(FormScreen):
    FIELDS = FINETUNE_FIELDS
    BINDINGS = [
        Binding("ctrl+s", "start", "Start", priority=True),
        Binding("ctrl+r", "app.show_runs", "Runs", priority=True),
        Binding("escape", "app.back", "Back"),
    ]

    def __init__(self, runs_dir: str, device_choices: list[tuple[str, str]], parent: str | None = None) -> None:
        runs = run_choices(runs_dir)
        first = parent or (runs[0][1] if runs[0][1] != TYPED else "")
        base = finetune_base(init_from=first, data="", runs_dir=runs_dir, device=device_choices[0][1])
        super().__init__(base, {"device": device_choices, "freeze": freeze_choices(4)})
        self.runs = runs
        self.parent_info = None  # core.train.finetune.Parent of the chosen checkpoint, once read
        self.parent_error = ""
        self.data_info = ""
        self.data_text = ""  # data_info without the note on what was chosen for the data's size
        self.touched: set[str] = set()  # batch size / epochs once the user set them: data-sized defaults leave them
        self.sized = {"batch_size": str(self.base.batch_size), "epochs": str(self.base.epochs)}  # what they put there
        self.chosen = ""  # what the data-sized defaults chose and why, shown under the data and recorded

    def compose(self) -> ComposeResult:
        yield Header()
        with VerticalScroll(id="form"):
            with Vertical(classes="field"):
                with Horizontal(classes="row"):
                    yield Label("  From run", classes="field-label", name="From run")
                    value = self.base.init_from if self.base.init_from in [v for _, v in self.runs] else TYPED
                    yield Select(self.runs, value=value, allow_blank=False, compact=True, id="parent-run")
                yield Static("", id="parent-info", classes="info")
            yield from self.field_rows()
        yield from self.action_bar()
        yield Footer(show_command_palette=False)  # ctrl+p still opens it; ? says so

    def after_field(self, name: str) -> ComposeResult:
        if name == "data":  # the new dataset's classes and counts, right under its path
            yield Static("", id="data-info", classes="info")

    def on_mount(self) -> None:
        self.title = "resnet-tui"
        self.sub_title = "fine-tune"
        self._read_parent(self.base.init_from)
        self._scan_data(self.base.dataset, self.base.data)
        self.validate_form()
        self.query_one("#parent-run", Select).focus()

    # ------------------------------------------------------------------ reacting to the form
    def on_select_changed(self, event: Select.Changed) -> None:
        if self._filling or event.select.id != "parent-run":
            return
        event.stop()
        if event.value != TYPED:
            self.query_one("#f-init_from", Input).value = str(event.value)  # fires Input.Changed

    def on_form_changed(self, name: str) -> None:
        values = self.form_values()
        if name in self.sized:
            # Input.Changed arrives after the fact: the value _size_to_data put there is not the user's.
            if values.get(name) != self.sized[name]:
                self.touched.add(name)
                if self.chosen:  # the user decides now: no note to record
                    self.chosen = ""
                    self.data_info = self.data_text
                    self.query_one("#data-info", Static).update(self.data_info)
            return
        if name == "init_from":
            self.parent_info, self.parent_error = None, ""
            self.query_one("#parent-info", Static).update("reading the checkpoint ...")
            self._read_parent(values["init_from"])
        elif name in ("dataset", "data", "test_split"):
            self._scan_data(values["dataset"], values["data"])

    @work(thread=True, exclusive=True, group="ft-parent", exit_on_error=False)
    def _read_parent(self, path: str) -> None:
        from core.errors import UserError
        from core.train.finetune import read_parent

        info, error = None, ""
        if path:
            try:
                info, _ = read_parent(path)
            except UserError as e:
                error = str(e)
        self.app.call_from_thread(self._parent_read, path, info, error)

    def _parent_read(self, path: str, info, error: str) -> None:
        if self.form_values()["init_from"] != path:
            return  # the user has picked another one meanwhile
        self.parent_info, self.parent_error = info, error
        label = self.query_one("#parent-info", Static)
        if info is not None:
            from core.models import get_spec

            classes = ", ".join(info.classes[:5]) + (", ..." if len(info.classes) > 5 else "")
            label.update(f"{info.arch}, {len(info.classes)} classes ({classes}), {info.image_size}x{info.image_size}")
            stages = get_spec(info.arch).num_stages if info.arch else 4
            self.set_choices("freeze", freeze_choices(stages))
        else:
            label.update("")
        self.validate_form()

    @work(thread=True, exclusive=True, group="ft-data", exit_on_error=False)
    def _scan_data(self, dataset: str, data: str) -> None:
        from core.errors import UserError

        text, found = "", 0
        if dataset == "folder" and data:
            from tui.app.data_summary import folder_summary

            values = self.form_values()
            try:
                split = float(values.get("test_split") or self.base.test_split)
            except ValueError:
                split = self.base.test_split
            size = self.parent_info.image_size if self.parent_info is not None else self.base.image_size
            try:
                text, found = folder_summary(data, split, self.base.split_seed, size, self.base.data_in_memory)
            except (UserError, OSError) as e:
                text = str(e)
        elif dataset == "synthetic":
            text, found = "10 synthetic classes, 5000/1000 images", 5000
        elif dataset == "cifar10":
            text, found = "CIFAR-10: 10 classes, 50000/10000 images", 50000
        self.app.call_from_thread(self._data_scanned, text, found)

    def _data_scanned(self, text: str, found: int = 0) -> None:
        self._size_to_data(found)
        self.data_text = text
        self.data_info = text + (f"\n{self.chosen}" if self.chosen else "")
        self.query_one("#data-info", Static).update(self.data_info)

    def _size_to_data(self, found: int) -> None:
        """Batch size and epochs from the dataset's size (core.config.finetune_defaults.sized_to_data), in the fields
        the user has not set, so the values that will be used are on the screen before Start."""
        from core.config.finetune_defaults import sized_to_data

        values = self.form_values()
        try:
            subset, split = int(values.get("train_subset") or 0), float(values.get("val_split") or 0)
        except ValueError:
            subset, split = 0, 0.0
        defaults = finetune_base(train_subset=subset, val_split=split)
        sized, self.chosen = sized_to_data(defaults, found, self.touched)
        for name, value in {"batch_size": sized.batch_size, "epochs": sized.epochs}.items():
            if name not in self.touched:
                self.sized[name] = str(value)
                self.query_one(f"#f-{name}", Input).value = str(value)
        self.validate_form()

    # ------------------------------------------------------------------ validation and start
    def extra_errors(self, cfg: TrainConfig) -> dict[str, str]:
        if not cfg.init_from:
            return {"init_from": "pick a run above or type the path of a checkpoint"}
        if self.parent_error:
            return {"init_from": self.parent_error}
        if self.parent_info is None:
            return {"init_from": "reading the checkpoint ..."}
        return {}

    def config_for_start(self, cfg: TrainConfig) -> TrainConfig:
        """The form's config plus what the parent decides (core.config.finetune_defaults): architecture, input size.
        An empty name stays empty: the run gets a generated <parent>-ft-<dataset>-<time> one."""
        assert self.parent_info is not None
        return from_parent(cfg, self.parent_info).replace(chosen=self.chosen)

    def summary(self, cfg: TrainConfig) -> str:
        arch = self.parent_info.arch if self.parent_info else "?"
        return f"ready: fine-tune {arch} on {cfg.dataset}, {cfg.epochs} epochs, freeze {cfg.freeze}"[:60]

    def start(self, cfg: TrainConfig) -> None:
        cfg = self.config_for_start(cfg)
        if self.processes > 1:  # "all N GPUs": a DDP job in the background
            self.app.start_background(cfg, self.processes)  # type: ignore[attr-defined]
            return
        self.app.start_run(cfg)
