"""The orchestrator's registry of modules: which are deployed and which robot types each takes.

:class:`ModuleRegistry` validates and deploys module specs (from the config file and the
store at start, through the API at run time), scales them, keeps the index from robot type
to the modules that handle it, and describes each module as ``GET /v1/modules`` shows it.
Replicas themselves are the :class:`~actors.supervisor.Supervisor`'s.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError

from actors.autoscaler import Autoscaler
from actors.cache_sync import ModuleBoard
from actors.deployment import DeployedModule
from actors.supervisor import Supervisor
from runtime.config import Settings
from runtime.errors import ModuleExists, ModuleRejected
from runtime.messages import ModuleInfo
from runtime.models import ModuleSpec
from runtime.queue import RobotQueue
from runtime.registry import validate_module
from runtime.store.base import RobotStore

log = logging.getLogger(__name__)


class ModuleRegistry:
    """Deployed modules by name and, per robot type, the names of the modules that take it.

    ``queues`` (robot type -> queue) gives each module's queue length; ``board``, when a
    cache is configured, is where the module list is published for the gateways.
    """

    def __init__(
        self,
        settings: Settings,
        store: RobotStore,
        supervisor: Supervisor,
        autoscaler: Autoscaler,
        queues: Mapping[str, RobotQueue],
        board: ModuleBoard | None,
    ) -> None:
        self.settings = settings
        self.store = store
        self.supervisor = supervisor
        self.autoscaler = autoscaler
        self.queues = queues
        self.board = board
        self.modules: dict[str, DeployedModule] = supervisor.modules
        self.type_modules: dict[str, list[str]] = defaultdict(list)
        # name -> reason, for the config file's modules deploy_known left out
        self.refused: dict[str, str] = {}

    async def deploy_known(self) -> None:
        """Deploy the config file's modules and those registered or scaled at run time.

        A module that fails validation is logged, kept in ``refused`` with the reason and left
        out; the others still deploy.
        """
        specs = {s.name: s for s in self.settings.modules}
        for spec in await self.store.list_modules():
            specs[spec.name] = spec  # registered or scaled at run time: newer than the file
        for spec in specs.values():
            try:
                spec = await validate_module(spec, self.settings.health_timeout_s)
            except ModuleRejected as exc:
                log.error("module %s is not deployed: %s", spec.name, exc)
                self.refused[spec.name] = str(exc)
                continue
            self._deploy(spec, reuse=True)
        if self.board is not None:
            await self.board.seed(self.modules.values())

    def _deploy(self, spec: ModuleSpec, reuse: bool) -> DeployedModule:
        module = self.supervisor.deploy(spec, reuse)
        for robot_type in spec.types:
            self.type_modules[robot_type].append(spec.name)
        return module

    async def register(self, raw_spec: dict[str, Any]) -> ModuleInfo:
        """Validate and deploy a module at run time; its replicas start in the background.

        Raises ``ModuleRejected`` (invalid spec, class that fails to load or check) or
        ``ModuleExists`` (name or replica prefix taken).
        """
        try:
            spec = ModuleSpec.model_validate(raw_spec)
        except ValidationError as exc:
            reasons = "; ".join(
                f"{'.'.join(map(str, e['loc'])) or 'spec'}: {e['msg']}" for e in exc.errors()
            )
            raise ModuleRejected(f"invalid module spec: {reasons}") from None
        if spec.name in self.modules:
            raise ModuleExists(f"module {spec.name!r} is already registered")
        taken = {m.spec.replica_prefix: m.name for m in self.modules.values()}
        if spec.replica_prefix is not None and spec.replica_prefix in taken:
            raise ModuleExists(
                f"replica prefix {spec.replica_prefix!r} is used by module "
                f"{taken[spec.replica_prefix]!r}"
            )
        spec = await validate_module(spec, self.settings.health_timeout_s)
        await self.store.save_module(spec)
        return self.info(self._deploy(spec, reuse=False))

    async def scale(self, name: str, replicas: int) -> ModuleInfo:
        """Change a module's replica count at run time and remember it across restarts.

        Raises ``UnknownModule`` or ``ModuleRejected`` (count outside 0..256).
        """
        module = self.supervisor.scale(name, replicas)
        await self.store.save_module(module.spec)
        return self.info(module)

    def handles(self, robot_type: str) -> bool:
        """Whether some module handles ``robot_type``."""
        return bool(self.type_modules.get(robot_type))

    def robot_types(self) -> list[str]:
        """Robot types some registered module handles."""
        return sorted(t for t, names in self.type_modules.items() if names)

    def info(self, module: DeployedModule) -> ModuleInfo:
        """What ``GET /v1/modules`` shows of one module."""
        queued = sum(len(self.queues[t]) for t in module.spec.types if t in self.queues)
        info = module.info(queued)
        info.autoscaling = self.autoscaler.status(module)
        return info

    async def publish(self) -> None:
        """Publish the module list to the cache for the gateways (no cache: nothing)."""
        if self.board is not None:
            await self.board.publish(list(self.modules.values()))
