"""fit(): train a registry model on a dataset, reporting through events, stoppable, resumable.

Everything that can be wrong with the request (config, device, data, resume target) is
checked before anything is written. Then the loop runs in the calling thread; it checks
the stop flag after every batch, saves ``last.pt`` after every epoch (and on a stop, at the
exact batch), and always ends with a RunFinished event.

The package: ``setup`` builds the run's objects (no writes), ``state`` holds its counters,
``store`` owns every write into the run folder, ``loop`` trains, ``fit`` runs the lifecycle.
"""

from core.config.validate import check_config
from core.train.fit import RunResult, fit
from core.train.loop import PROGRESS_INTERVAL  # the default; fit() reads core.train.loop.PROGRESS_INTERVAL at call time
from core.train.resume import (  # noqa: F401 - re-exported
    RESUME_OVERRIDES, ResumePoint, resume_config, rng_state, set_rng_state,
)
from core.train.state import NonFiniteLoss

__all__ = [
    "PROGRESS_INTERVAL",
    "RESUME_OVERRIDES",
    "NonFiniteLoss",
    "ResumePoint",
    "RunResult",
    "check_config",
    "fit",
    "resume_config",
    "rng_state",
    "set_rng_state",
]
