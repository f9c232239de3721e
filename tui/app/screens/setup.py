"""The setup screen: pick the model, data and hyper-parameters (or a preset), then start a run."""

from __future__ import annotations

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widgets import Footer, Header, Label, Select, Static

from core.config.presets import PRESETS, apply_preset
from core.config.train_config import TrainConfig
from tui.app.form import FIELDS
from tui.app.screens.form_screen import FormScreen

CUSTOM = "custom"


class SetupScreen(FormScreen):
    FIELDS = FIELDS
    BINDINGS = [
        Binding("ctrl+s", "start", "Start", priority=True),
        Binding("ctrl+b", "start_background", "Background", priority=True),
        Binding("ctrl+f", "app.finetune", "Fine-tune", priority=True),
        Binding("ctrl+r", "app.show_runs", "Runs", priority=True),
        Binding("ctrl+t", "app.show_training", "Training", show=False, priority=True),
    ]

    def __init__(self, base: TrainConfig, arch_choices: list[tuple[str, str]], device_choices: list[tuple[str, str]]) -> None:
        super().__init__(base, {"arch": arch_choices, "device": device_choices})

    def compose(self) -> ComposeResult:
        yield Header()
        with VerticalScroll(id="form"):
            with Vertical(classes="field"):
                with Horizontal(classes="row"):
                    yield Label("  Preset", classes="field-label", name="Preset")
                    options = [("custom", CUSTOM)] + [(p.title, p.name) for p in PRESETS.values()]
                    yield Select(options, value=CUSTOM, allow_blank=False, compact=True, id="preset")
                yield Label("", id="preset-help", classes="reason help")
            yield from self.field_rows()
        yield from self.action_bar()
        yield Footer(show_command_palette=False)  # ctrl+p still opens it; ? says so

    def on_mount(self) -> None:
        self.title = "resnet-tui"
        self.sub_title = "new run"
        self.validate_form()
        self.query_one("#f-arch", Select).focus()
        if self.base.dataset == "folder":
            self._scan_data(self.base.dataset, self.base.data)

    def on_select_changed(self, event: Select.Changed) -> None:
        if self._filling or event.select.id != "preset":
            return
        event.stop()
        name = event.value
        help_label = self.query_one("#preset-help", Label)
        help_label.set_class(name in PRESETS, "shown")
        if name in PRESETS:
            help_label.update(PRESETS[name].description)
            self.set_values(apply_preset(name, self.config or self.base))
            self.base = apply_preset(name, self.base)  # fields the form does not show come from the preset too
        else:
            help_label.update("")

    # ------------------------------------------------------------------ what an image folder holds
    def after_field(self, name: str) -> ComposeResult:
        if name == "data":  # an image folder's layout, split, counts and memory path, under its path
            info = Static("", id="data-info", classes="info")
            info.display = False
            yield info

    def on_form_changed(self, name: str) -> None:
        if name in ("dataset", "data"):
            values = self.form_values()
            self._scan_data(values.get("dataset", ""), values.get("data", ""))

    @work(thread=True, exclusive=True, group="setup-data", exit_on_error=False)
    def _scan_data(self, dataset: str, data: str) -> None:
        from core.errors import UserError
        from tui.app.data_summary import folder_summary

        text = ""
        if dataset == "folder" and data:
            base = self.base
            try:
                text, _ = folder_summary(data, base.test_split, base.split_seed, base.image_size, base.data_in_memory)
            except (UserError, OSError) as e:
                text = str(e)
        self.app.call_from_thread(self._show_data, text)

    def _show_data(self, text: str) -> None:
        info = self.query_one("#data-info", Static)
        info.update(text)
        info.display = bool(text)  # no empty line under the other datasets' paths
