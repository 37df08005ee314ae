"""The one registry style of every seam (input domains, generator backends, model backends,
latent searches, pixel attacks): an implementation registers itself where it is defined,

    SEARCHES = Registry("search")

    @SEARCHES.register("local")
    class LocalSearch: ...

and the seam looks it up by name (``SEARCHES["local"]``) or walks them in registration order.
Adding an implementation is one module plus the import that registers it
(docs/architecture.md)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, Generic, TypeVar

T = TypeVar("T")


class Registry(Generic[T]):
    """Named implementations of one seam, in registration order."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._entries: dict[str, T] = {}

    def register(self, *names: str) -> Callable[[T], T]:
        """A decorator: ``@REGISTRY.register("name")`` over a class or function (or
        ``REGISTRY.register("name")(obj)`` for an instance); several names register one object
        under each (a generator backend's families)."""

        def add(obj: T) -> T:
            for name in names:
                if name in self._entries and self._entries[name] is not obj:
                    raise ValueError(f"{self.kind} {name!r} is registered twice")
                self._entries[name] = obj
            return obj

        return add

    def __getitem__(self, name: str) -> T:
        try:
            return self._entries[name]
        except KeyError:
            raise KeyError(f"no {self.kind} named {name!r}; registered: "
                           f"{', '.join(self._entries)}") from None

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, name: str, default: Any = None) -> T | Any:
        return self._entries.get(name, default)

    def names(self) -> list[str]:
        return list(self._entries)

    def items(self) -> list[tuple[str, T]]:
        return list(self._entries.items())

    def values(self) -> list[T]:
        return list(self._entries.values())
