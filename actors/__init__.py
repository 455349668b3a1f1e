"""Plain actor classes (orchestrator, replica host, ...); their Ray form is in ``actors.ray``."""

from actors.orchestrator import Orchestrator
from actors.replica import ReplicaHost

__all__ = ["Orchestrator", "ReplicaHost"]
