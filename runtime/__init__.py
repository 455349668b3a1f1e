"""robofleet's core, importable without Ray: models, lifecycle, routing, store, module SDK."""

from runtime.errors import BadPayload, PermanentError, RetryableError, RobofleetError
from runtime.models import HealthState, ModuleSpec, Robot, RobotRequest, RobotStatus
from runtime.sdk import MetricSample, Module, RobotContext

__all__ = [
    "BadPayload",
    "HealthState",
    "MetricSample",
    "Module",
    "ModuleSpec",
    "PermanentError",
    "RetryableError",
    "RobofleetError",
    "Robot",
    "RobotContext",
    "RobotRequest",
    "RobotStatus",
]
