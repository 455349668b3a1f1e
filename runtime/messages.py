"""The typed messages actors exchange: one class per kind, nothing crosses as a bare dict.

Ray pickles arguments and return values, so every message is a slotted dataclass (checked by
mypy at both ends) on :class:`~runtime.wire.WireMessage`, which pickles it as the tuple of its
fields: a quarter of the default cost. A unit test round-trips each one through
``ray.cloudpickle``. Payloads and results stay ``dict``/``Any`` inside a message: they are
the user's data, not the runtime's protocol.

::

    gateway ──SubmitRequest──▶ orchestrator ──SubmitAnswer──▶ gateway
    orchestrator ──Dispatch──▶ replica ──Outcome──▶ orchestrator
    replica ──Progress──▶ orchestrator
    orchestrator ──ModuleInfo / CancelAnswer──▶ gateway, CLI
    gateway, orchestrator ──CacheKeys / CacheEntry / CacheFill──▶ cache ──CacheRead──▶ them
    orchestrator ──RobotMarks──▶ cache ──CacheStatsSnapshot──▶ gateway, benchmarks
    email-monitor ──SubmitRequest──▶ orchestrator; email-monitor ──MailboxStatus──▶ gateway
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from runtime.errors import RobofleetError
from runtime.models import ModuleInfo, ReplicaInfo, Robot, RobotStatus
from runtime.wire import WireMessage

__all__ = [
    "ScheduleAnswer",
    "AuditCaller",
    "CacheEntry",
    "CacheFill",
    "CacheKeys",
    "CacheKindStats",
    "CacheRead",
    "CacheStatsSnapshot",
    "CancelAnswer",
    "Dispatch",
    "DocumentAnswer",
    "DurationBuckets",
    "FillToken",
    "MailboxStatus",
    "ModuleInfo",
    "OrchestratorStats",
    "Outcome",
    "OutcomeKind",
    "Progress",
    "ReplicaInfo",
    "ReplicaPing",
    "RobotFigures",
    "RobotMarks",
    "SubmitAnswer",
    "SubmitRequest",
]


@dataclass(slots=True, frozen=True)
class AuditCaller(WireMessage):
    """Who asked for a robot, for the audit entry the store writes along with it."""

    request_id: str
    actor: str
    client: str | None
    action: str


@dataclass(slots=True)
class SubmitRequest(WireMessage):
    """Gateway → orchestrator: one robot, validated once and given its id by the gateway.

    The id is chosen before the call so a call retried after an orchestrator restart cannot
    create the robot twice. ``audit`` is set when the gateway wants the store to write the
    robot's ``202`` audit entry in the same commit.
    """

    robot: Robot
    audit: AuditCaller | None = None


@dataclass(slots=True)
class SubmitAnswer(WireMessage):
    """Orchestrator → gateway: what became of one :class:`SubmitRequest`.

    ``error`` is set (and the other fields describe nothing) when the robot was refused:
    an ``UnknownRobotType`` or ``QueueFull`` the gateway raises at its boundary. A batch
    call answers per robot, so one refusal never fails the robots it travelled with.
    """

    id: str
    status: RobotStatus = RobotStatus.QUEUED
    created: bool = True
    same_request: bool = True
    audited: bool = False
    error: RobofleetError | None = None


@dataclass(slots=True)
class Dispatch(WireMessage):
    """Orchestrator → replica: robots to run now, each already marked running."""

    robots: list[Robot]


class OutcomeKind(StrEnum):
    """How one attempt ended on its replica."""

    SUCCEEDED = "succeeded"
    FAILED = "failed"  # the module raised; ``retryable`` says whether to try again
    TIMED_OUT = "timed_out"  # ran past the robot's ``timeout_s``; always retryable
    CANCELLED = "cancelled"  # stopped by request through ``ctx.cancelled``


@dataclass(slots=True)
class Outcome(WireMessage):
    """Replica → orchestrator: the end of one attempt, returned as the value of the run call.

    ``seconds`` is wall time on the replica from start to end of the attempt.
    """

    robot_id: str
    attempt: int
    kind: OutcomeKind
    seconds: float
    result: Any = None
    error: str | None = None
    retryable: bool = True


@dataclass(slots=True)
class Progress(WireMessage):
    """Replica → orchestrator → store: the latest progress of one running attempt.

    ``fraction`` is 0.0-1.0; replicas coalesce reports so only the newest one travels.
    """

    robot_id: str
    attempt: int
    fraction: float
    message: str | None = None


@dataclass(slots=True)
class CancelAnswer(WireMessage):
    """Orchestrator → gateway: a cancel that took effect (refusals are raised instead).

    ``cancel_requested`` is True when a running robot was asked to stop and will be recorded
    cancelled when its module stops or its grace runs out; False when it was cancelled now.
    """

    id: str
    status: RobotStatus
    cancel_requested: bool = False


@dataclass(slots=True)
class ScheduleAnswer(WireMessage):
    """Orchestrator → gateway: what a trigger-now or a backfill of a schedule did.

    ``fired`` robots were submitted (``robot_ids``); ``skipped`` slots were not (a backfill
    slot fired before, or a ``when`` that did not hold).
    """

    schedule_id: str
    fired: int
    skipped: int
    robot_ids: list[str] = field(default_factory=list)


@dataclass(slots=True)
class DocumentAnswer(WireMessage):
    """Documents actor → gateway: a stored document (refusals raise ``BadDocument``).

    ``id`` is the SHA-256 of the bytes (hex), ``size`` in bytes, ``media_type`` as sniffed;
    ``created`` is False when the same bytes were stored before (and on a lookup).
    """

    id: str
    size: int
    media_type: str
    created: bool = False


@dataclass(slots=True)
class OrchestratorStats(WireMessage):
    """Orchestrator counters for metrics and benchmarks."""

    queued: int = 0
    in_memory: int = 0
    dispatched: int = 0
    commits: int = 0


@dataclass(slots=True)
class DurationBuckets(WireMessage):
    """Run times of one robot type's attempts since the orchestrator started: a histogram.

    ``cumulative[i]`` counts attempts that took at most ``bounds[i]`` seconds (Prometheus
    ``le`` buckets; ``+Inf`` is ``count``); ``total_s`` is the sum of their run times.
    """

    bounds: list[float]
    cumulative: list[int]
    count: int = 0
    total_s: float = 0.0


@dataclass(slots=True)
class RobotFigures(WireMessage):
    """Orchestrator → gateway, once per ``/metrics`` scrape: the fleet's robot figures.

    Gauges (now): ``queue_depth`` robots queued per module; ``in_flight`` robots running per
    module, then per replica; ``active`` robots per status (``queued``, ``running``);
    ``overdue`` running robots past their ``timeout_s`` per module; ``breaker_open`` 1 per
    module whose breaker is open. Counters (since the orchestrator started, never reset
    by a read): ``outcomes`` terminal robots per type, then per status; ``retries`` attempts
    requeued per type; ``dispatched`` robots handed to replicas per module; ``durations``
    attempt run times per type. ``started_at`` is when this orchestrator started (unix
    seconds): its counters count from then. Autoscaling: ``autoscaling_desired`` replicas
    each autoscaled module's policy asks for now; ``autoscaling_decisions`` scaling
    decisions taken per module, then per direction (``up``, ``down``), a counter.
    """

    queue_depth: dict[str, int] = field(default_factory=dict)
    in_flight: dict[str, dict[str, int]] = field(default_factory=dict)
    active: dict[str, int] = field(default_factory=dict)
    overdue: dict[str, int] = field(default_factory=dict)
    breaker_open: dict[str, int] = field(default_factory=dict)
    outcomes: dict[str, dict[str, int]] = field(default_factory=dict)
    retries: dict[str, int] = field(default_factory=dict)
    dispatched: dict[str, int] = field(default_factory=dict)
    durations: dict[str, DurationBuckets] = field(default_factory=dict)
    started_at: float = 0.0
    autoscaling_desired: dict[str, int] = field(default_factory=dict)
    autoscaling_decisions: dict[str, dict[str, int]] = field(default_factory=dict)


@dataclass(slots=True)
class ReplicaPing(WireMessage):
    """Replica → orchestrator: who answered a ping (at start, and when adopted after a restart).

    ``in_flight`` counts robots running on it; ``node_id`` is its cluster node when known.
    """

    name: str
    pid: int
    in_flight: int
    node_id: str | None = None


# -- cache actor -------------------------------------------------------------------------


@dataclass(slots=True)
class CacheKeys(WireMessage):
    """Caller → cache actor: the entries one call reads or invalidates.

    Entry ``i`` is ``keys[i]`` (a robot id, an API key hash, a module name) of kind
    ``kinds[i]`` (a ``runtime.cache.CacheKind`` value: ``"robot"``, ``"api_key"``, ...).
    Two parallel lists rather than an object per key because reads are the hot path: one
    object per batch pickles as small and as fast as bare pairs, while an object per key
    costs Ray's pickler about 4 µs more per key.
    """

    kinds: list[str] = field(default_factory=list)
    keys: list[str] = field(default_factory=list)

    def add(self, kind: str, key: str) -> None:
        """Append one entry."""
        self.kinds.append(kind)
        self.keys.append(key)


@dataclass(slots=True, frozen=True)
class CacheEntry(WireMessage):
    """Caller → cache actor: one value to store.

    ``value`` is the caller's serialised bytes (JSON throughout robofleet); ``version``
    orders writes of one key, an older never replacing a newer: a robot's version
    (``runtime.cache.robot_version``) for robot state, None for "now" on clock-versioned
    kinds (module figures, API keys, configuration).
    """

    kind: str
    key: str
    value: bytes
    version: int | None = None


@dataclass(slots=True, frozen=True)
class FillToken(WireMessage):
    """Cache actor → reader → cache actor: what a miss hands out and its fill must carry.

    ``incarnation`` and ``generation`` identify the cache actor and its robot gate at the
    miss, ``missed_at`` is the actor's monotonic clock then (seconds), ``list_epoch`` the
    epoch of list pages then. Opaque to readers; see ``runtime.cache.guard``.
    """

    incarnation: str
    generation: int
    missed_at: float
    list_epoch: int


@dataclass(slots=True, frozen=True)
class CacheFill(WireMessage):
    """Gateway → cache actor: a cache-aside fill, what a reader found in the store after a miss.

    Fields as in :class:`CacheEntry`; ``token`` is the one the miss handed out (a fill of
    robot state or of a list page without a current token does not land).
    """

    kind: str
    key: str
    value: bytes
    version: int | None
    token: FillToken | None


@dataclass(slots=True)
class CacheRead(WireMessage):
    """Cache actor → reader: the answer to one :class:`CacheKeys` read.

    ``values`` holds one entry per key asked, in order: the stored bytes, or None for a
    miss. ``token`` is what fills of the misses must carry (None while robot state is not
    served, so such fills would not land).
    """

    values: list[bytes | None]
    token: FillToken | None = None


@dataclass(slots=True)
class RobotMarks(WireMessage):
    """Orchestrator's writer → cache actor, before each store commit: robots about to change.

    ``versions`` maps each robot id of the batch to the version its transition reaches
    (``runtime.cache.robot_version``); ``backlog`` the marks earlier calls could not deliver.
    ``reset``: the writer lost track of what it owes, so every robot entry is dropped.
    ``lists``: the commit may change list pages. ``settled`` counts commits announced earlier
    that have finished and ``created`` says robots were created since the previous call:
    list news carried along instead of a call of its own.
    """

    versions: dict[str, int] = field(default_factory=dict)
    backlog: dict[str, int] = field(default_factory=dict)
    reset: bool = False
    lists: bool = False
    settled: int = 0
    created: bool = False


@dataclass(slots=True)
class CacheKindStats(WireMessage):
    """Counters (since the cache actor started) and gauges (now) of one cache kind.

    ``bytes`` is the compressed size held in the actor's memory.
    """

    hits: int = 0
    misses: int = 0
    evictions: int = 0
    expirations: int = 0
    sets: int = 0
    stale_writes: int = 0
    marks: int = 0
    entries: int = 0
    bytes: int = 0

    @property
    def hit_rate(self) -> float:
        """Hits over lookups (0 before any lookup)."""
        lookups = self.hits + self.misses
        return self.hits / lookups if lookups else 0.0


@dataclass(slots=True)
class CacheStatsSnapshot(WireMessage):
    """Cache actor → gateway, benchmarks, metrics: its statistics at one moment.

    ``kinds`` maps each ``CacheKind`` value to its figures. ``backend_up`` is 1 while the
    Redis tier answers (0 otherwise or without one); ``backend_fallbacks`` counts outages,
    ``backend_reads``/``backend_writes`` Redis round trips. ``incarnation`` identifies the
    actor's life, ``robots_served`` says whether its robot gate is open, ``warm`` whether it
    has loaded ``warm_modules`` modules from the orchestrator; ``memory_entries`` and
    ``memory_bytes`` (compressed) are what its memory tier holds.
    """

    kinds: dict[str, CacheKindStats] = field(default_factory=dict)
    backend_up: int = 0
    backend_configured: bool = False
    backend_fallbacks: int = 0
    backend_reads: int = 0
    backend_writes: int = 0
    incarnation: str = ""
    robots_served: bool = False
    warm: bool = False
    warm_modules: int = 0
    memory_entries: int = 0
    memory_bytes: int = 0


@dataclass(slots=True)
class MailboxStatus(WireMessage):
    """Email monitor → gateway, CLI: one watched mailbox and how it is doing.

    ``state`` is ``watching`` (connected, last round trip within the bound), ``connecting``
    (not connected yet or reconnecting, still within the bound), ``stale`` (no successful
    round trip for longer than ``stale_after_s``), ``misconfigured`` (its password cannot be
    read: ``error`` says why), ``unreachable`` (never reached: a bad host, a refused
    connection or login; ``error`` says which) or ``paused``. ``processed`` and
    ``by_class`` count mail since the monitor started; ``source`` is ``config`` or ``api``.
    ``last_contact`` is the Unix time of the last successful server round trip (None:
    never); ``uidnext`` the server's ``UIDNEXT`` seen then; ``last_uid`` the cursor
    (every UID up to it is processed).
    """

    name: str
    host: str
    port: int
    user: str
    folder: str
    state: str
    paused: bool
    idle: bool
    last_contact: float | None
    stale_after_s: float
    uidvalidity: int | None
    uidnext: int | None
    last_uid: int | None
    processed: int
    error: str | None
    source: str
    by_class: dict[str, int] = field(default_factory=dict)
