"""Cheap building and pickling of what crosses an actor boundary once per robot.

Ray pickles every argument and answer. On the robot path (submit, dispatch, outcome) the
defaults cost more than the work: pydantic's ``model_construct`` fills 22 robot fields in
about 60 µs and its pickle carries the field set and private state; a slotted dataclass
pickles through ``copyreg`` at about 4x the cost of a tuple (figures from a micro-benchmark
on this project's 2-core host; ``make bench`` measures the end-to-end effect). The helpers
here keep the types and drop that overhead:

- :func:`trusted_model` builds a model from values that were already validated;
- :func:`reduce_model` makes a model pickle as the tuple of its field values;
- :class:`WireMessage` gives a slotted dataclass a ``__reduce__`` to its field tuple.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from pydantic import BaseModel

M = TypeVar("M", bound=BaseModel)

_set = object.__setattr__


_ALL_FIELDS: dict[type[BaseModel], set[str]] = {}


def _all_fields(cls: type[BaseModel]) -> set[str]:
    """The one set of every field name that all trusted models of ``cls`` share.

    pydantic keeps a model's set fields in a set of its own: 1.2 kB for a robot's 24
    fields, 40% of what the orchestrator holds per queued robot. Every field of a trusted
    model is set, and pydantic only ever adds a field's name to the set (on assignment; a
    copy gets a copy), so one set per class serves them all.
    """
    found = _ALL_FIELDS.get(cls)
    if found is None:
        found = _ALL_FIELDS[cls] = set(cls.model_fields)
    return found


_SHARED_KEYS: dict[type[BaseModel], dict[str, Any]] = {}


def share_field_names(cls: type[BaseModel]) -> None:
    """Make every trusted model of ``cls`` keep its field names once, in one shared table.

    CPython lets the instance dicts of a class share one table of keys when they are built
    by setting attributes, and a copy of such a dict shares it too. Trusted models of ``cls``
    start from a copy of one such dict: a robot's own dict is then 264 bytes instead of 832
    (its 24 names and their hashes are not repeated), the largest part of what the
    orchestrator holds per queued robot. Call it right after the class is defined: the
    class's key table only grows into a shared one while no other instance dict uses it.
    """
    model = cls.__new__(cls)
    for name in cls.model_fields:
        _set(model, name, None)
    _SHARED_KEYS[cls] = model.__dict__


def _fresh_dict(cls: type[BaseModel]) -> dict[str, Any]:
    found = _SHARED_KEYS.get(cls)
    return found.copy() if found is not None else {}


def _trusted(cls: type[M], fields: dict[str, Any]) -> M:
    model = cls.__new__(cls)
    own = _fresh_dict(cls)
    own.update(fields)
    _set(model, "__dict__", own)
    _set(model, "__pydantic_fields_set__", _all_fields(cls))
    _set(model, "__pydantic_extra__", None)
    _set(model, "__pydantic_private__", None)
    return model


def trusted_model(cls: type[M], values: Mapping[str, Any]) -> M:
    """Build ``cls`` from ``values`` naming every field, without validation.

    Only for values that already passed the model's validation (or the store's schema);
    raises ``KeyError`` if a field is missing. Every field counts as set.
    """
    return _trusted(cls, {name: values[name] for name in cls.model_fields})


def _rebuild_model(cls: type[M], values: tuple[Any, ...]) -> M:
    return _trusted(cls, dict(zip(cls.model_fields, values, strict=True)))


def reduce_model(self: BaseModel) -> tuple[Any, ...]:
    """A model's ``__reduce__``: pickle its field values in declaration order, nothing else.

    Use as ``__reduce__ = reduce_model`` in the class body. Unpickling does not validate
    (the values were valid when pickled) and marks every field as set.
    """
    values = self.__dict__
    return (_rebuild_model, (type(self), tuple([values[name] for name in type(self).model_fields])))


class WireMessage:
    """Base of actor messages: a ``@dataclass(slots=True)`` subclass pickles as its field tuple.

    The dataclass's ``__slots__`` lists its fields in order, the order its constructor takes.
    """

    __slots__ = ()

    def __reduce__(self) -> tuple[Any, ...]:
        slots: tuple[str, ...] = self.__slots__  # type: ignore[assignment]
        return (type(self), tuple([getattr(self, name) for name in slots]))
