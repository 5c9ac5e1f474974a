"""A token bucket (no grpc): the one rate limiter behind per-key API rates and the image services' image budgets."""

from __future__ import annotations

import threading
import time
from typing import Callable


class TokenBucket:
    """`rate` tokens per second up to `capacity`; take() returns 0 or the seconds until it would pass."""

    def __init__(self, rate: float, capacity: float, clock: Callable[[], float] = time.monotonic):
        self.rate, self.capacity, self._clock = rate, capacity, clock
        self._tokens = capacity
        self._last = clock()
        self._lock = threading.Lock()

    def take(self, n: float = 1.0) -> float:
        with self._lock:
            now = self._clock()
            self._tokens = min(self.capacity, self._tokens + (now - self._last) * self.rate)
            self._last = now
            if n <= self._tokens:
                self._tokens -= n
                return 0.0
            return (n - self._tokens) / self.rate

    def available(self) -> float:
        """Tokens that could be taken now (for messages: how much of a refused request would fit)."""
        with self._lock:
            return min(self.capacity, self._tokens + (self._clock() - self._last) * self.rate)
