"""Slow down guessing: after a few failed logins from one address for one user (or many
from one address for anyone), each further try from there waits longer."""

from __future__ import annotations

import threading
import time

FREE_ATTEMPTS = 3  # per address and user name
FREE_ATTEMPTS_PER_ADDRESS = 30  # per address, any user names
MAX_DELAY = 5.0
FORGET_AFTER = 900.0


def delay_after(count: int, free: int, max_delay: float) -> float:
    """Seconds to wait after `count` recent failures of which `free` cost nothing."""
    extra = count - free
    return 0.0 if extra < 0 else min(max_delay, 0.25 * 2 ** min(extra, 16))


class LoginThrottle:
    def __init__(self, max_delay: float = MAX_DELAY) -> None:
        self.max_delay = max_delay
        self._failures: dict[str, tuple[int, float]] = {}
        self._guard = threading.Lock()

    def delay_for(self, address: str, user: str = "") -> float:
        """Seconds to wait before judging a login attempt."""
        return max(
            self._delay((address, user), FREE_ATTEMPTS),
            self._delay((address, ""), FREE_ATTEMPTS_PER_ADDRESS),
        )

    def _delay(self, key: tuple[str, str], free: int) -> float:
        with self._guard:
            count, last = self._failures.get(key, (0, 0.0))
        if time.monotonic() - last > FORGET_AFTER:
            return 0.0
        return delay_after(count, free, self.max_delay)

    def wait(self, address: str, user: str = "") -> None:
        delay = self.delay_for(address, user)
        if delay:
            time.sleep(delay)

    def failed(self, address: str, user: str = "") -> None:
        with self._guard:
            for key in {(address, user), (address, "")}:
                count, last = self._failures.get(key, (0, 0.0))
                if time.monotonic() - last > FORGET_AFTER:
                    count = 0
                self._failures[key] = (count + 1, time.monotonic())
            if len(self._failures) > 10000:
                oldest = min(self._failures, key=lambda k: self._failures[k][1])
                del self._failures[oldest]

    def succeeded(self, address: str, user: str = "") -> None:
        with self._guard:
            self._failures.pop((address, user), None)
