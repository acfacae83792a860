"""Slow down guessing: after a few failed logins from one address, each try waits longer."""

from __future__ import annotations

import threading
import time

FREE_ATTEMPTS = 3
MAX_DELAY = 5.0
FORGET_AFTER = 900.0


class LoginThrottle:
    def __init__(self, max_delay: float = MAX_DELAY) -> None:
        self.max_delay = max_delay
        self._failures: dict[str, tuple[int, float]] = {}
        self._guard = threading.Lock()

    def delay_for(self, address: str) -> float:
        """Seconds to wait before judging a login attempt from `address`."""
        with self._guard:
            count, last = self._failures.get(address, (0, 0.0))
            if time.monotonic() - last > FORGET_AFTER:
                return 0.0
        extra = count - FREE_ATTEMPTS
        return 0.0 if extra < 0 else min(self.max_delay, 0.25 * 2**extra)

    def wait(self, address: str) -> None:
        delay = self.delay_for(address)
        if delay:
            time.sleep(delay)

    def failed(self, address: str) -> None:
        with self._guard:
            count, last = self._failures.get(address, (0, 0.0))
            if time.monotonic() - last > FORGET_AFTER:
                count = 0
            self._failures[address] = (count + 1, time.monotonic())
            if len(self._failures) > 10000:
                oldest = min(self._failures, key=lambda a: self._failures[a][1])
                del self._failures[oldest]

    def succeeded(self, address: str) -> None:
        with self._guard:
            self._failures.pop(address, None)
