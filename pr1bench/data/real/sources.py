"""The adapter registry: one entry per ``data.source`` of a real-data task."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from pr1bench.data.real.records import Context, RecordSet
from pr1bench.registry import Registry


@dataclass(frozen=True)
class Adapter:
    """How to read one dataset format.

    Attributes:
        name: the ``data.source`` value.
        read: ``read(ctx, split) -> RecordSet`` for ``split`` in ``train``/``eval`` (no image is opened).
        splits: default dataset split names for ``(train, eval)``; ``data.train_split`` /
            ``data.eval_split`` (alias ``data.split``) override them.
        task_types: task types the adapter can feed (checked before reading anything).
    """

    name: str
    read: Callable[[Context, str], RecordSet]
    splits: tuple[str, str]
    task_types: tuple[str, ...]


ADAPTERS: Registry[Adapter] = Registry("real data source")


def register(name: str, splits: tuple[str, str], task_types: tuple[str, ...]) -> Callable[
        [Callable[[Context, str], RecordSet]], Callable[[Context, str], RecordSet]]:
    """Decorator registering a ``read`` function as the adapter for ``data.source: name``."""

    def deco(fn: Callable[[Context, str], RecordSet]) -> Callable[[Context, str], RecordSet]:
        ADAPTERS.add(name, Adapter(name, fn, splits, task_types))
        return fn

    return deco
