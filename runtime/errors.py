"""The robofleet error tree.

Every error robofleet raises on purpose derives from :class:`RobofleetError`::

    RobofleetError
    ├── ConfigError
    ├── StoreError
    │   ├── StoreUnavailable
    │   └── MigrationError
    ├── RoutingError
    │   ├── UnknownRobotType
    │   └── QueueFull
    ├── ModuleError
    │   ├── ModuleRejected
    │   └── ModuleExists
    ├── SupervisionError
    │   └── ReplicaLost
    ├── RobotError              (raised by module code inside a robot's run)
    │   ├── RetryableError
    │   └── PermanentError
    │       └── BadPayload
    └── GatewayError

Errors cross Ray actor boundaries by pickle, so every constructor passes all of its
arguments to ``super().__init__`` and none is keyword-only.
"""

from __future__ import annotations


class RobofleetError(Exception):
    """Raised when robofleet itself detects a problem; the root of the tree."""

    code = "internal"

    def __init__(self, message: str = "") -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class ConfigError(RobofleetError):
    """Raised when settings or a config file are invalid."""

    code = "bad_config"


class StoreError(RobofleetError):
    """Raised when the state store fails an operation."""

    code = "store_error"


class StoreUnavailable(StoreError):
    """Raised when the state store cannot be reached or refuses the connection."""

    code = "store_unavailable"


class MigrationError(StoreError):
    """Raised when a schema migration cannot be applied."""

    code = "migration_failed"


class RoutingError(RobofleetError):
    """Raised when a robot cannot be routed to any module."""

    code = "routing_error"


class UnknownRobotType(RoutingError):
    """Raised when no registered module handles a robot's type."""

    code = "unknown_robot_type"


class QueueFull(RoutingError):
    """Raised when a robot type's queue is past its bound; clients should retry later."""

    code = "queue_full"

    def __init__(self, message: str = "", retry_after_s: float = 1.0) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s

    def __reduce__(self):  # keeps retry_after_s across pickle
        return (type(self), (self.message, self.retry_after_s))


class ModuleError(RobofleetError):
    """Raised when a module cannot be loaded, registered or deployed."""

    code = "module_error"


class ModuleRejected(ModuleError):
    """Raised when a module fails validation at registration and takes no work."""

    code = "module_rejected"


class ModuleExists(ModuleError):
    """Raised when a module is registered under a name that is already taken."""

    code = "module_exists"


class SupervisionError(RobofleetError):
    """Raised when the orchestrator loses track of a replica."""

    code = "supervision_error"


class ReplicaLost(SupervisionError):
    """Raised when a replica died or stopped answering while robots ran on it."""

    code = "replica_lost"


class RobotError(RobofleetError):
    """Raised by module code to say how a robot's attempt failed."""

    code = "robot_error"
    retryable = True


class RetryableError(RobotError):
    """Raised when an attempt failed for a passing reason; the robot is tried again."""

    code = "retryable"
    retryable = True


class PermanentError(RobotError):
    """Raised when an attempt can never succeed; the robot fails at once."""

    code = "permanent"
    retryable = False


class BadPayload(PermanentError):
    """Raised when a robot's payload is not what its module accepts."""

    code = "bad_payload"


class GatewayError(RobofleetError):
    """Raised when the HTTP gateway cannot serve a request."""

    code = "gateway_error"


def is_retryable(exc: BaseException) -> bool:
    """Tell whether a failure raised by module code deserves another attempt."""
    if isinstance(exc, RobotError):
        return exc.retryable
    return True
