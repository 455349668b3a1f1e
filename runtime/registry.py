"""Loading and validating module classes before they take any work."""

from __future__ import annotations

import asyncio
import importlib

from runtime.errors import ModuleRejected
from runtime.models import HealthState, ModuleSpec
from runtime.sdk import Module, call_health


def load_module_class(class_path: str) -> type[Module]:
    """Import ``pkg.module:Class`` and check it is a :class:`Module` subclass."""
    module_path, _, class_name = class_path.partition(":")
    try:
        py_module = importlib.import_module(module_path)
    except Exception as exc:  # any import-time failure is the module author's problem
        raise ModuleRejected(f"cannot import {module_path!r}: {type(exc).__name__}: {exc}") from exc
    cls = getattr(py_module, class_name, None)
    if cls is None:
        raise ModuleRejected(f"{module_path!r} has no attribute {class_name!r}")
    if not (isinstance(cls, type) and issubclass(cls, Module)):
        raise ModuleRejected(f"{class_path!r} is not a subclass of runtime.Module")
    return cls


def resolve_types(spec: ModuleSpec, cls: type[Module]) -> list[str]:
    """The robot types the module handles: the spec's, else the class's own declaration."""
    types = list(spec.types or cls.types)
    if not types:
        raise ModuleRejected(f"module {spec.name!r} declares no robot types")
    if spec.types and cls.types and not set(spec.types) <= set(cls.types):
        extra = sorted(set(spec.types) - set(cls.types))
        raise ModuleRejected(f"module {spec.name!r}: class does not handle types {extra}")
    return types


async def validate_module(spec: ModuleSpec, timeout_s: float = 5.0) -> ModuleSpec:
    """Import, instantiate and health-check a module; return the spec with its types filled in.

    Raises :class:`ModuleRejected` with the reason when any step fails.
    """
    cls = load_module_class(spec.class_path)
    types = resolve_types(spec, cls)
    try:
        instance = cls(spec.options)
        instance.setup()
    except Exception as exc:
        raise ModuleRejected(f"module {spec.name!r} failed to start: {exc}") from exc
    try:
        health = await asyncio.wait_for(call_health(instance), timeout_s)
    except TimeoutError as exc:
        raise ModuleRejected(f"module {spec.name!r}: check_health() timed out") from exc
    except Exception as exc:
        raise ModuleRejected(f"module {spec.name!r}: check_health() raised {exc!r}") from exc
    finally:
        try:
            instance.teardown()
        except Exception:  # teardown failure does not make a healthy module bad
            pass
    if health is HealthState.UNHEALTHY:
        raise ModuleRejected(f"module {spec.name!r}: check_health() reports unhealthy")
    return spec.model_copy(update={"types": types})
