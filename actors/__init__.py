"""Plain actor classes (orchestrator, replica host) and, in ``actors.remote``, their Ray form."""

from actors.orchestrator import Orchestrator
from actors.replica import ReplicaHost

__all__ = ["Orchestrator", "ReplicaHost"]
