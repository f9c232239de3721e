"""The setup screen: pick the model, data and hyper-parameters, then start a run.

Every change re-validates the whole form with core's rules (tui.form); the reason shows
beside the field and Start stays disabled until the form is valid.
"""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import Screen
from textual.widgets import Button, Footer, Header, Input, Label, Select, Static

from core.config import TrainConfig
from core.presets import PRESETS, apply_preset

from ..form import FIELDS, config_to_form, form_to_config

CUSTOM = "custom"


class SetupScreen(Screen):
    BINDINGS = [
        Binding("ctrl+s", "start", "Start", priority=True),
        Binding("ctrl+r", "app.show_runs", "Runs", priority=True),
        Binding("ctrl+t", "app.show_training", "Training", show=False, priority=True),
    ]

    def __init__(self, base: TrainConfig, arch_choices: list[tuple[str, str]], device_choices: list[tuple[str, str]]) -> None:
        super().__init__()
        self.base = base
        self.arch_choices = arch_choices
        self.device_choices = device_choices
        self.errors: dict[str, str] = {}
        self.choices: dict[str, list[str]] = {}  # the values each Select offers
        self.config: TrainConfig | None = None
        self._filling = False

    # ------------------------------------------------------------------ layout
    def _widget_for(self, name: str, value: str):
        spec = next(f for f in FIELDS if f.name == name)
        if spec.kind == "choice":
            options = {"arch": self.arch_choices, "device": self.device_choices}.get(name) or [(c, c) for c in spec.choices]
            values = [v for _, v in options]
            self.choices[name] = values
            return Select(options, value=value if value in values else values[0], allow_blank=False, compact=True, id=f"f-{name}")
        return Input(value, compact=True, id=f"f-{name}", placeholder=spec.help)

    def compose(self) -> ComposeResult:
        yield Header()
        values = config_to_form(self.base)
        with VerticalScroll(id="form"):
            with Vertical(classes="field"):
                with Horizontal(classes="row"):
                    yield Label("Preset", classes="field-label")
                    options = [("custom", CUSTOM)] + [(f"{p.title}", p.name) for p in PRESETS.values()]
                    yield Select(options, value=CUSTOM, allow_blank=False, compact=True, id="preset")
                yield Label("", id="preset-help", classes="reason help")
            for spec in FIELDS:
                # The reason sits on its own line under the field, shown only when there is one,
                # so it can say what is allowed in full even at 80 columns.
                with Vertical(classes="field"):
                    with Horizontal(classes="row"):
                        yield Label(spec.label, classes="field-label")
                        yield self._widget_for(spec.name, values[spec.name])
                    yield Label("", id=f"r-{spec.name}", classes="reason")
        with Horizontal(id="actions"):
            yield Button("Start", id="start", variant="success", compact=True, disabled=True)
            yield Button("Runs", id="runs", compact=True)
            yield Static("", id="summary")
        yield Footer()

    def on_mount(self) -> None:
        self.title = "resnet-tui"
        self.sub_title = "new run"
        self.validate_form()
        self.query_one("#f-arch", Select).focus()

    # ------------------------------------------------------------------ form state
    def form_values(self) -> dict[str, str]:
        values = {}
        for spec in FIELDS:
            widget = self.query_one(f"#f-{spec.name}")
            value = widget.value
            values[spec.name] = "" if value is Select.NULL else str(value)
        return values

    def set_values(self, cfg: TrainConfig) -> None:
        self._filling = True
        try:
            for name, value in config_to_form(cfg).items():
                widget = self.query_one(f"#f-{name}")
                if isinstance(widget, Select):
                    if value in self.choices.get(name, ()):
                        widget.value = value
                else:
                    widget.value = value
        finally:
            self._filling = False
        self.validate_form()

    def validate_form(self) -> None:
        from core.models import list_models

        cfg, errors = form_to_config(self.form_values(), self.base, list_models())
        self.errors = errors
        self.config = None if errors else cfg
        for spec in FIELDS:
            reason = self.query_one(f"#r-{spec.name}", Label)
            reason.update(errors.get(spec.name, ""))
            reason.set_class(spec.name in errors, "shown")
            self.query_one(f"#f-{spec.name}").set_class(spec.name in errors, "invalid")
        self.query_one("#f-data", Input).disabled = cfg.dataset == "synthetic"
        start = self.query_one("#start", Button)
        start.disabled = bool(errors)
        summary = self.query_one("#summary", Static)
        if errors:
            summary.update(f"[b]{len(errors)} field{'s' if len(errors) > 1 else ''} to fix[/]")
        else:
            summary.update(f"ready: {cfg.arch} · {cfg.dataset} · {cfg.epochs} epochs · {cfg.device}"[:60])

    @on(Input.Changed)
    @on(Select.Changed)
    def _changed(self, event) -> None:
        if self._filling:
            return
        if getattr(event, "select", None) is not None and event.select.id == "preset":
            name = event.value
            help_label = self.query_one("#preset-help", Label)
            help_label.set_class(name in PRESETS, "shown")
            if name in PRESETS:
                help_label.update(PRESETS[name].description)
                current = self.config or self.base
                self.set_values(apply_preset(name, current))
                self.base = apply_preset(name, self.base)  # fields the form does not show come from the preset too
            else:
                help_label.update("")
            return
        self.validate_form()

    # ------------------------------------------------------------------ actions
    @on(Button.Pressed, "#start")
    def action_start(self) -> None:
        self.validate_form()
        if self.config is None:
            first = next(iter(self.errors))
            self.query_one(f"#f-{first}").focus()
            self.app.bell()
            return
        self.app.start_run(self.config)

    @on(Button.Pressed, "#runs")
    def _runs(self) -> None:
        self.app.action_show_runs()
