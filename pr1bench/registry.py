"""One small registry per kind (rewards, metrics, parsers, generators, task types).

Names map to objects; an unknown name raises a ``KeyError`` subclass whose message lists the
closest known names ("did you mean"), so a typo in a YAML file is fixed in one look.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

T = TypeVar("T")


class UnknownNameError(KeyError):
    """A name that is not in a registry; ``str()`` gives the full, human-readable message."""

    def __init__(self, kind: str, name: str, known: list[str]):
        self.kind, self.name, self.known = kind, name, known
        super().__init__(self.message)

    @property
    def message(self) -> str:
        close = difflib.get_close_matches(str(self.name), self.known, n=3, cutoff=0.5)
        hint = f" Did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
        return f"unknown {self.kind} {self.name!r}.{hint} Known: {', '.join(self.known)}."

    def __str__(self) -> str:  # KeyError would otherwise wrap the message in quotes
        return self.message


def did_you_mean(name: str, known: list[str]) -> str:
    """Return ``" Did you mean 'x'?"`` for the closest known names, or an empty string."""
    close = difflib.get_close_matches(str(name), known, n=3, cutoff=0.5)
    return f" Did you mean {' or '.join(repr(c) for c in close)}?" if close else ""


class Registry(Generic[T]):
    """Name -> object mapping with a decorator for registration and helpful lookup errors."""

    def __init__(self, kind: str):
        self.kind = kind
        self._items: dict[str, T] = {}

    def register(self, name: str) -> Callable[[T], T]:
        """Decorator: ``@REG.register("name")`` adds the decorated object under ``name``."""

        def deco(obj: T) -> T:
            self.add(name, obj)
            return obj

        return deco

    def add(self, name: str, obj: T) -> None:
        if name in self._items:
            raise ValueError(f"{self.kind} {name!r} is registered twice")
        self._items[name] = obj

    def get(self, name: str) -> T:
        try:
            return self._items[name]
        except KeyError:
            raise UnknownNameError(self.kind, name, self.names()) from None

    def names(self) -> list[str]:
        return sorted(self._items)

    def __contains__(self, name: object) -> bool:
        return name in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        return len(self._items)
