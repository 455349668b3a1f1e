"""The robofleet error tree.

Every error robofleet raises on purpose derives from :class:`RobofleetError`::

    RobofleetError
    ├── ConfigError
    ├── StoreError
    │   ├── StoreUnavailable    (connection lost or refused: retried, 503 + Retry-After)
    │   ├── StoreDataError      (a value the store cannot hold: fails only its own item)
    │   ├── StoreConflict       (a concurrent write won: tried again at once)
    │   └── MigrationError
    ├── RoutingError
    │   ├── UnknownRobotType
    │   └── QueueFull
    ├── ControlError            (a request to act on a robot that cannot be carried out)
    │   ├── RobotNotFound
    │   ├── AlreadyTerminal
    │   ├── NotCancellable
    │   ├── MailboxNotFound
    │   ├── MailboxExists
    │   ├── MailboxRejected
    │   └── MailNotFound
    ├── ModuleError
    │   ├── UnknownModule
    │   ├── ModuleRejected
    │   └── ModuleExists
    ├── RuleError
    │   ├── UnknownRule
    │   ├── RuleExists
    │   └── RuleRejected        (a rule or a schedule request that cannot be carried out)
    ├── NotificationError
    │   ├── NotificationNotFound
    │   ├── UnknownWebhook      (a webhook endpoint [notify] does not configure)
    │   └── NotReplayable       (a replay of a delivery that is not in the dead letter)
    ├── SupervisionError
    │   └── ReplicaLost
    ├── RobotError              (raised by module code inside a robot's run)
    │   ├── RetryableError
    │   └── PermanentError
    │       └── BadPayload
    ├── GatewayError
    ├── BadDocument             (an uploaded document that cannot be stored or read)
    └── BackupError             (a backup that cannot be taken, read, proved or restored)
        ├── BackupInvalid       (a backup whose files or checksums do not prove it)
        └── RestoreRefused      (a restore that would overwrite a live or non-empty store)

Each class declares the ``code`` and ``http_status`` a client sees; actors raise, and the
gateway translates once, at its boundary (``gateway.errors``). ``retry_after_s``, when set,
becomes a ``Retry-After`` header. A status of 500 or more hides the message from the client.

Errors cross Ray actor boundaries by pickle, so every constructor passes all of its
arguments to ``super().__init__`` and none is keyword-only.
"""

from __future__ import annotations

from pydantic import ValidationError


class RobofleetError(Exception):
    """Raised when robofleet itself detects a problem; the root of the tree."""

    code = "internal"
    http_status = 500
    retry_after_s: float | None = None

    def __init__(self, message: str = "") -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class ConfigError(RobofleetError):
    """Raised when settings or a config file are invalid."""

    code = "bad_config"
    http_status = 400


class StoreError(RobofleetError):
    """Raised when the state store fails an operation."""

    code = "store_error"


class StoreUnavailable(StoreError):
    """Raised when the state store cannot be reached, lost the connection or is shutting down.

    A passing condition: writes are kept and retried until the store is back; a client is
    answered 503 with ``Retry-After`` (``retry_after_s``, seconds).
    """

    code = "store_unavailable"
    http_status = 503
    retry_after_s: float  # always set: an unavailable store always says when to come back

    def __init__(self, message: str = "", retry_after_s: float = 2.0) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s

    def __reduce__(self) -> tuple[type[StoreUnavailable], tuple[str, float]]:
        return (type(self), (self.message, self.retry_after_s))


class StoreDataError(StoreError):
    """Raised when the store cannot hold a value (a NUL in PostgreSQL text, an index row too big).

    Retrying cannot help; only the robot, audit entry or request that carried the value fails.
    """

    code = "unstorable_value"
    http_status = 422


class StoreConflict(StoreError):
    """Raised when a concurrent write won a race (deadlock, serialization failure); try again."""

    code = "store_conflict"
    http_status = 409
    retry_after_s = 1.0


class MigrationError(StoreError):
    """Raised when a schema migration cannot be applied."""

    code = "migration_failed"


class RoutingError(RobofleetError):
    """Raised when a robot cannot be routed to any module."""

    code = "routing_error"
    http_status = 422


class UnknownRobotType(RoutingError):
    """Raised when no registered module handles a robot's type."""

    code = "unknown_robot_type"


class QueueFull(RoutingError):
    """Raised when a robot type's queue is past its bound; clients should retry later."""

    code = "queue_full"
    http_status = 429
    retry_after_s: float  # always set: a full queue always says when to come back

    def __init__(self, message: str = "", retry_after_s: float = 1.0) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s

    def __reduce__(self) -> tuple[type[QueueFull], tuple[str, float]]:  # keeps retry_after_s
        return (type(self), (self.message, self.retry_after_s))


class ControlError(RobofleetError):
    """Raised when a request to act on a robot (cancel, retry) cannot be carried out."""

    code = "control_error"
    http_status = 409


class RobotNotFound(ControlError):
    """Raised when no robot has the id a request names."""

    code = "not_found"
    http_status = 404


class AlreadyTerminal(ControlError):
    """Raised when a robot to act on has already reached a terminal status."""

    code = "already_terminal"
    http_status = 409


class NotCancellable(ControlError):
    """Raised when a robot cannot be cancelled yet (it is being recovered); retry shortly."""

    code = "not_cancellable"
    http_status = 409
    retry_after_s = 1.0


class MailboxNotFound(ControlError):
    """Raised when no watched mailbox has the given name."""

    code = "mailbox_not_found"
    http_status = 404


class MailboxExists(ControlError):
    """Raised when a mailbox is added under a name already watched."""

    code = "mailbox_exists"
    http_status = 409


class MailboxRejected(ControlError):
    """Raised when a mailbox spec or a mail label is invalid."""

    code = "mailbox_rejected"
    http_status = 422


class MailNotFound(ControlError):
    """Raised when no processed mail has the given id."""

    code = "mail_not_found"
    http_status = 404


class ModuleError(RobofleetError):
    """Raised when a module cannot be loaded, registered or deployed."""

    code = "module_error"
    http_status = 422


class UnknownModule(ModuleError):
    """Raised when a request names a module that is not registered."""

    code = "unknown_module"
    http_status = 404


class ModuleRejected(ModuleError):
    """Raised when a module fails validation at registration and takes no work."""

    code = "module_rejected"


class ModuleExists(ModuleError):
    """Raised when a module is registered under a name that is already taken."""

    code = "module_exists"
    http_status = 409


class RuleError(RobofleetError):
    """Raised when a rule or schedule cannot be created, changed or fired as asked."""

    code = "rule_error"
    http_status = 422


class UnknownRule(RuleError):
    """Raised when a request names a rule or schedule that does not exist."""

    code = "unknown_rule"
    http_status = 404


class RuleExists(RuleError):
    """Raised when a rule is created under an id that is taken, or changed where it is
    defined by the config file."""

    code = "rule_exists"
    http_status = 409


class RuleRejected(RuleError):
    """Raised when a rule or schedule request is refused (not a schedule, a bad range)."""

    code = "rule_rejected"


class NotificationError(RobofleetError):
    """Raised when a notification request cannot be carried out."""

    code = "notification_error"
    http_status = 422


class NotificationNotFound(NotificationError):
    """Raised when a request names a delivery the outbox does not hold (or the caller
    may not see)."""

    code = "notification_not_found"
    http_status = 404


class UnknownWebhook(NotificationError):
    """Raised when a request names a webhook endpoint ``[notify]`` does not configure."""

    code = "unknown_webhook"
    http_status = 404


class NotReplayable(NotificationError):
    """Raised when a replay names a delivery that is not dead (pending or delivered)."""

    code = "not_replayable"
    http_status = 409


class SupervisionError(RobofleetError):
    """Raised when the orchestrator loses track of a replica."""

    code = "supervision_error"
    http_status = 503


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


class BadDocument(RobofleetError):
    """Raised when an uploaded document is empty, too large or not a readable image or PDF."""

    code = "bad_document"
    http_status = 422


class BackupError(RobofleetError):
    """Raised when a backup cannot be taken, listed, verified, pruned or restored."""

    code = "backup_error"


class BackupInvalid(BackupError):
    """Raised when a backup's files are missing, altered, or do not restore to what it claims."""

    code = "backup_invalid"


class RestoreRefused(BackupError):
    """Raised when a restore would overwrite a live or non-empty store without ``--force``."""

    code = "restore_refused"
    http_status = 409


def is_retryable(exc: BaseException) -> bool:
    """Tell whether a failure raised by module code deserves another attempt."""
    if isinstance(exc, RobotError):
        return exc.retryable
    return True


def validation_message(exc: ValidationError, root: str = "body") -> str:
    """One line saying which fields were wrong and why, without echoing the input back;
    ``root`` names a failure of the whole (a field path is empty)."""
    parts = []
    for err in exc.errors(include_url=False, include_input=False):
        where = ".".join(str(p) for p in err["loc"]) or root
        parts.append(f"{where}: {err['msg']}")
    return "; ".join(parts)
