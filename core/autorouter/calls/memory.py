"""A small thread-safe LRU map: the process-local memory of routed calls (which model a
session or an agent run is on). One class, so that every such memory is bounded and
forgets alike."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Hashable
from typing import Any


class RecentMap:
    """key -> model name, keeping the `capacity` most recently used keys. Thread-safe.

    A copy (pickle, `copy.deepcopy`) starts empty: what it remembers belongs to this process.
    """

    def __init__(self, capacity: int) -> None:
        self.capacity = max(1, int(capacity))
        self._items: OrderedDict[Hashable, str] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Hashable) -> str | None:
        """The value for `key` (now the most recently used), or None."""
        with self._lock:
            value = self._items.get(key)
            if value is not None:
                self._items.move_to_end(key)
            return value

    def put(self, key: Hashable, value: str) -> None:
        """Remember `value` for `key`, forgetting the least recently used beyond `capacity`."""
        with self._lock:
            self._items[key] = value
            self._items.move_to_end(key)
            while len(self._items) > self.capacity:
                self._items.popitem(last=False)

    def forget(self, key: Hashable | None = None) -> None:
        """Forget `key` (every key if None)."""
        with self._lock:
            if key is None:
                self._items.clear()
            else:
                self._items.pop(key, None)

    def __len__(self) -> int:
        return len(self._items)

    def __repr__(self) -> str:
        return f"RecentMap({len(self)} of {self.capacity})"

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.capacity,))
