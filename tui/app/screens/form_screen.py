"""A screen holding a config form: rows of label + input, a reason under each invalid field, Start.

Every change re-validates the whole form with core's rules (tui.app.form); Start stays disabled
until the form is valid. The setup and fine-tune screens are two forms over different fields.
"""

from __future__ import annotations

from pathlib import Path

from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.widgets import Button, Input, Label, Select, Static

from core.config.train_config import TrainConfig
from tui.app.form import Field, config_to_form, form_to_config


class FormScreen(Screen):
    FIELDS: tuple[Field, ...] = ()

    def __init__(self, base: TrainConfig, choices: dict[str, list[tuple[str, str]]]) -> None:
        super().__init__()
        self.base = base
        self.option_lists = choices  # field -> [(label, value)] for the choice fields
        self.choices: dict[str, list[str]] = {}  # field -> the values its Select offers
        self.errors: dict[str, str] = {}
        self.config: TrainConfig | None = None
        self._filling = False
        self.processes = 1  # > 1: the device choice "all N GPUs (DDP)"

    # ------------------------------------------------------------------ layout
    def _widget_for(self, spec: Field, value: str):
        if spec.kind == "choice":
            options = self.option_lists.get(spec.name) or [(c, c) for c in spec.choices]
            values = [v for _, v in options]
            self.choices[spec.name] = values
            return Select(options, value=value if value in values else values[0], allow_blank=False, compact=True,
                          id=f"f-{spec.name}")
        return Input(value, compact=True, id=f"f-{spec.name}", placeholder=spec.help)

    def field_rows(self) -> ComposeResult:
        values = config_to_form(self.base, self.FIELDS)
        for spec in self.FIELDS:
            # The reason sits on its own line under the field, shown only when there is one,
            # so it can say what is allowed in full even at 80 columns.
            with Vertical(classes="field"):
                with Horizontal(classes="row"):
                    yield Label(f"  {spec.label}", classes="field-label", name=spec.label)
                    yield self._widget_for(spec, values[spec.name])
                yield Label("", id=f"r-{spec.name}", classes="reason")
            yield from self.after_field(spec.name)

    def on_descendant_focus(self, event) -> None:
        """The focused field's row gets a marker and the class "focused" (its label bold in the accent colour,
        its value bold and underlined): visible in 16 colours and with NO_COLOR too, where shades of grey are not."""
        for row in self.query(".row"):
            focused = event.widget in row.query("*")
            if focused != row.has_class("focused"):
                row.set_class(focused, "focused")
                label = row.query_one(".field-label", Label)
                label.update(f"{'▸' if focused else ' '} {label.name}")

    def after_field(self, name: str) -> ComposeResult:
        """Extra widgets to place right after a field (none by default)."""
        return iter(())

    def action_bar(self) -> ComposeResult:
        with Horizontal(id="actions"):
            yield Button("Start", id="start", variant="success", compact=True, disabled=True)
            yield Button("Runs", id="runs", compact=True)
            yield Static("", id="summary")

    # ------------------------------------------------------------------ form state
    def form_values(self) -> dict[str, str]:
        """The fields as text; the device choice "all N GPUs" becomes device cuda and self.processes N."""
        from tui.app.choices import job_processes

        values = {}
        for spec in self.FIELDS:
            value = self.query_one(f"#f-{spec.name}").value
            values[spec.name] = "" if value is Select.NULL else str(value)
        self.processes = job_processes(values.get("device", ""))
        if self.processes > 1:
            values["device"] = "cuda"
        return values

    def set_values(self, cfg: TrainConfig) -> None:
        self._filling = True
        try:
            for name, value in config_to_form(cfg, self.FIELDS).items():
                widget = self.query_one(f"#f-{name}")
                if isinstance(widget, Select):
                    if value in self.choices.get(name, ()):
                        widget.value = value
                else:
                    widget.value = value
        finally:
            self._filling = False
        self.validate_form()

    def set_choices(self, name: str, options: list[tuple[str, str]], value: str | None = None) -> None:
        """Replace a Select's options, keeping its value if it is still offered."""
        select = self.query_one(f"#f-{name}", Select)
        keep = value if value is not None else select.value
        self.option_lists[name] = options
        self.choices[name] = [v for _, v in options]
        self._filling = True
        try:
            select.set_options(options)
            select.value = keep if keep in self.choices[name] else self.choices[name][0]
        finally:
            self._filling = False

    def extra_errors(self, cfg: TrainConfig) -> dict[str, str]:
        """Screen-specific checks on top of core's rules."""
        return {}

    def summary(self, cfg: TrainConfig) -> str:
        where = f"{self.processes} GPUs (DDP)" if self.processes > 1 else cfg.device
        return f"ready: {cfg.arch} · {cfg.dataset} · {cfg.epochs} epochs · {where}"[:60]

    def validate_form(self) -> None:
        from core.models import list_models

        cfg, errors = form_to_config(self.form_values(), self.base, list_models(), self.FIELDS)
        for name, reason in self.extra_errors(cfg).items():
            errors.setdefault(name, reason)
        self.errors = errors
        self.config = None if errors else cfg
        for spec in self.FIELDS:
            reason = self.query_one(f"#r-{spec.name}", Label)
            reason.update(errors.get(spec.name, ""))
            reason.set_class(spec.name in errors, "shown")
            self.query_one(f"#f-{spec.name}").set_class(spec.name in errors, "invalid")
        self.query_one("#f-data", Input).disabled = cfg.dataset == "synthetic"
        self.query_one("#start", Button).disabled = bool(errors)
        summary = self.query_one("#summary", Static)
        if errors:
            summary.update(f"[b]{len(errors)} field{'s' if len(errors) > 1 else ''} to fix[/]")
        else:
            summary.update(self.summary(cfg))

    def on_screen_resume(self) -> None:
        """Back on the form (after a run, from the runs list): a run name taken since is cleared, and the status
        line is checked again instead of saying "ready" for a name that now exists."""
        names = self.query("#f-name").results(Input)
        field = next(iter(names), None)
        if field is not None and field.value.strip() and (Path(self.base.runs_dir) / field.value.strip()).exists():
            self._filling = True
            try:
                field.value = ""
            finally:
                self._filling = False
        self.validate_form()

    def on_form_changed(self, name: str) -> None:
        """Called after a field changed (before validation); screens react to particular fields here."""

    @on(Input.Changed)
    @on(Select.Changed)
    def _changed(self, event) -> None:
        if self._filling:
            return
        widget = event.input if isinstance(event, Input.Changed) else event.select
        name = (widget.id or "").removeprefix("f-")
        self.on_form_changed(name)
        self.validate_form()

    # ------------------------------------------------------------------ actions
    def start(self, cfg: TrainConfig) -> None:
        if self.processes > 1:  # a job of several processes trains in the background
            self.app.start_background(cfg, self.processes)  # type: ignore[attr-defined]
            return
        self.app.start_run(cfg)

    def _checked(self) -> TrainConfig | None:
        self.validate_form()
        if self.config is None:
            first = next(iter(self.errors))
            self.query_one(f"#f-{first}").focus()
            self.app.bell()
        return self.config

    @on(Button.Pressed, "#start")
    def action_start(self) -> None:
        cfg = self._checked()
        if cfg is not None:
            self.start(cfg)

    def action_start_background(self) -> None:
        """Start as a detached process (it survives the terminal) and watch it."""
        cfg = self._checked()
        if cfg is not None:
            self.app.start_background(cfg, self.processes)  # type: ignore[attr-defined]

    @on(Button.Pressed, "#runs")
    def _runs(self) -> None:
        self.app.action_show_runs()
