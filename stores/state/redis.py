"""Shared state in Redis, for several nodes over one shared tree (`cluster.redis_url`).

The same interfaces as the single-process state (stores/tokens.py, stores/login_guard.py,
the change feed), so the code using them never knows which it has:

- `RedisOneTimeTokens`: the spent presigned URLs, claimed with one atomic SET NX, so a
  URL is spent once across the cluster.
- `RedisLoginThrottle`: failed logins counted per address (and user) across the nodes.
- `ChangeStream`: every change a node's stores emit is appended to a Redis stream that
  every node follows into its own index (its position kept in Redis, so a restarted node
  catches up; one that fell behind the stream's trimmed history reconciles from the tree);
  `caught_up()` is the cluster's read-your-writes barrier.

Keys all start with `assetdav:`. The `redis` client is imported only when a cluster is
configured: the embedded default needs neither it nor a Redis server.
"""

from __future__ import annotations

import contextlib
import json
import logging
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import redis

from .. import errors
from ..events import Change, ChangeFeed
from ..layout import Location
from ..login_guard import FORGET_AFTER, FREE_ATTEMPTS, FREE_ATTEMPTS_PER_ADDRESS, delay_after

log = logging.getLogger(__name__)
PREFIX = "assetdav:"
STREAM = PREFIX + "changes"
POSITIONS = PREFIX + "stream-positions"
STREAM_MAX_LEN = 1_000_000  # entries kept (approximately); a node further behind reconciles
Unavailable = (redis.ConnectionError, redis.TimeoutError)
errors.UNAVAILABLE_TYPES.extend(Unavailable)  # 503 wherever one reaches a front end


def connect(url: str) -> redis.Redis:
    """A client that reconnects by itself (each command retries once on a broken link)."""
    return redis.Redis.from_url(
        url,
        socket_timeout=5,
        socket_connect_timeout=2,
        health_check_interval=15,
        retry_on_timeout=True,
    )


def _unavailable(exc: Exception) -> errors.Unavailable:
    log.error("Redis is unreachable: %s", exc)
    return errors.Unavailable(
        f"The cluster's shared state (Redis) does not answer ({exc}); nothing was changed. "
        "Try again in a moment."
    )


@contextlib.contextmanager
def reaching_redis() -> Iterator[None]:
    """Around Redis calls: Redis not answering becomes errors.Unavailable (503 with
    Retry-After in both faces, a StoreError to the code between), said in the log."""
    try:
        yield
    except Unavailable as exc:
        raise _unavailable(exc) from None


def set_fields(pipe: Any, key: str, values: dict[str, Any]) -> None:
    """Queue on `pipe` the fields of hash `key` that have a value, and the removal of
    those given as None (a hash holds no None)."""
    present = {name: value for name, value in values.items() if value is not None}
    absent = [name for name, value in values.items() if value is None]
    if present:
        pipe.hset(key, mapping=present)
    if absent:
        pipe.hdel(key, *absent)


class Once:
    """Run `work` the first time this is called (one thread at a time); until it has
    run without an error, the next call tries again."""

    def __init__(self, work: Callable[[], None]) -> None:
        self._work = work
        self._guard = threading.Lock()
        self._done = False

    def __call__(self) -> None:
        if self._done:
            return
        with self._guard:
            if not self._done:
                self._work()
                self._done = True


# --- spent presigned URLs -------------------------------------------------------------------

_RELEASE_IF_BUSY = """
if redis.call('GET', KEYS[1]) == 'busy' then return redis.call('DEL', KEYS[1]) end
return 0
"""


class RedisOneTimeTokens:
    """Which single-use tokens were spent: `claim` (atomic, once across the cluster) before
    the work, `finish` after it, `release` when it failed so it may be tried again."""

    KEEP_AFTER_EXPIRY = 86400  # seconds a spent token is remembered past its expiry

    def __init__(self, client: redis.Redis) -> None:
        self._redis = client
        self._release = client.register_script(_RELEASE_IF_BUSY)

    @staticmethod
    def _key(nonce: str) -> str:
        return f"{PREFIX}spent:{nonce}"

    def claim(self, nonce: str, expires: float) -> bool:
        ttl = max(1, int(expires - time.time()) + self.KEEP_AFTER_EXPIRY)
        return bool(self._redis.set(self._key(nonce), b"busy", nx=True, ex=ttl))

    def finish(self, nonce: str, result: str) -> None:
        self._redis.set(self._key(nonce), b"done:" + result.encode(), xx=True, keepttl=True)

    def release(self, nonce: str) -> None:
        self._release(keys=[self._key(nonce)])

    def result(self, nonce: str) -> str | None:
        value = self._redis.get(self._key(nonce))
        return value[5:].decode() if value and value.startswith(b"done:") else None

    def close(self) -> None:
        """The client is shared; nothing of this object's own to close."""


# --- login throttling -----------------------------------------------------------------------


class RedisLoginThrottle:
    """Failed logins counted across the cluster: after a few from one address for one user
    (or many from one address), each further try waits longer (stores/login_guard.py)."""

    def __init__(self, client: redis.Redis, max_delay: float) -> None:
        self._redis = client
        self.max_delay = max_delay

    @staticmethod
    def _keys(address: str, user: str) -> tuple[str, str]:
        return f"{PREFIX}login:{address}\x00{user}", f"{PREFIX}login:{address}\x00"

    def delay_for(self, address: str, user: str = "") -> float:
        mine, anyone = self._keys(address, user)
        try:
            counts = self._redis.mget(mine, anyone)
        except Unavailable:
            log.warning("Redis is unreachable: login attempts are not throttled meanwhile")
            return 0.0
        per_user, per_address = (int(c or 0) for c in counts)
        return max(
            delay_after(per_user, FREE_ATTEMPTS, self.max_delay),
            delay_after(per_address, FREE_ATTEMPTS_PER_ADDRESS, self.max_delay),
        )

    def wait(self, address: str, user: str = "") -> None:
        delay = self.delay_for(address, user)
        if delay:
            time.sleep(delay)

    def failed(self, address: str, user: str = "") -> None:
        pipe = self._redis.pipeline()
        for key in set(self._keys(address, user)):
            pipe.incr(key)
            pipe.expire(key, int(FORGET_AFTER))
        try:
            pipe.execute()
        except Unavailable:
            log.warning("Redis is unreachable: a failed login was not counted")

    def succeeded(self, address: str, user: str = "") -> None:
        with contextlib.suppress(*Unavailable):
            self._redis.delete(self._keys(address, user)[0])


# --- the change stream --------------------------------------------------------------------


def _stream_id(raw: bytes | str) -> tuple[int, int]:
    text = raw.decode() if isinstance(raw, bytes) else raw
    ms, _, seq = text.partition("-")
    return int(ms), int(seq or 0)


def _encode(change: Change, node: str) -> dict[str, str]:
    fields = {
        "node": node,
        "kind": change.kind,
        "store": change.where.store,
        "parts": json.dumps(change.where.parts),
        "folder": "1" if change.is_folder else "0",
    }
    if change.dest is not None:
        fields["dest_store"] = change.dest.store
        fields["dest_parts"] = json.dumps(change.dest.parts)
    return fields


def _decode(fields: dict[bytes, bytes]) -> Change:
    text = {k.decode(): v.decode() for k, v in fields.items()}
    dest = None
    if "dest_store" in text:
        dest = Location(text["dest_store"], tuple(json.loads(text["dest_parts"])))
    return Change(
        text["kind"],
        Location(text["store"], tuple(json.loads(text["parts"]))),
        text["folder"] == "1",
        dest,
        origin=text["node"],
    )


class ChangeStream:
    """This node's changes out to the stream, the other nodes' changes in to its feed."""

    def __init__(
        self,
        client: redis.Redis,
        feed: ChangeFeed,
        node: str,
        on_gap: Callable[[], None] | None = None,
    ) -> None:
        self._redis = client
        self._feed = feed
        self.node = node
        self._on_gap = on_gap  # the node missed changes: compare its index with the tree
        self._seen: tuple[int, int] = (0, 0)
        self._seen_raw = "0-0"
        self._cond = threading.Condition()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._follow, name="change-stream", daemon=True)
        self._unreachable_since: float | None = None

    def start(self) -> None:
        self._feed.subscribe(self._publish)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    # out

    def _publish(self, change: Change, _seq: int) -> None:
        """In the write path: the change is in the stream before the write is answered."""
        if change.origin:
            return  # another node's change, heard from the stream
        self._redis.xadd(
            STREAM, _encode(change, self.node), maxlen=STREAM_MAX_LEN, approximate=True
        )

    # in

    def _start_position(self) -> str:
        saved = self._redis.hget(POSITIONS, self.node)
        info = self._stream_info()
        last = info.get("last-generated-id", b"0-0") if info else b"0-0"
        if saved is None:
            return last.decode() if isinstance(last, bytes) else str(last)
        first = info.get("first-entry") if info else None
        if first is not None and _stream_id(first[0]) > _stream_id(saved):
            log.warning(
                "node %s fell behind the change stream's kept history: comparing its index "
                "with the tree",
                self.node,
            )
            if self._on_gap is not None:
                self._on_gap()
        return saved.decode()

    def _stream_info(self) -> dict[str, Any] | None:
        try:
            return {
                (k.decode() if isinstance(k, bytes) else k): v
                for k, v in self._redis.xinfo_stream(STREAM).items()
            }
        except redis.ResponseError:
            return None  # no stream yet

    def _follow(self) -> None:
        position: str | None = None
        while not self._stop.is_set():
            try:
                if position is None:
                    position = self._start_position()
                    self._advance(position)
                answer = self._redis.xread({STREAM: position}, count=500, block=500)
                self._reachable()
            except Unavailable as exc:
                self._unreachable(exc)
                self._stop.wait(1.0)
                continue
            for _name, entries in answer or []:
                for entry_id, fields in entries:
                    if fields.get(b"node", b"").decode() != self.node:
                        try:
                            self._feed.emit(_decode(fields))
                        except (KeyError, ValueError) as exc:
                            log.warning("skipped a malformed change stream entry: %s", exc)
                    position = entry_id.decode()
                self._advance(position)
                with contextlib.suppress(*Unavailable):
                    self._redis.hset(POSITIONS, self.node, position)

    def _advance(self, position: str) -> None:
        with self._cond:
            self._seen_raw = position
            self._seen = _stream_id(position)
            self._cond.notify_all()

    def _unreachable(self, exc: Exception) -> None:
        if self._unreachable_since is None:
            self._unreachable_since = time.monotonic()
            log.error("Redis is unreachable (%s): other nodes' changes wait; retrying", exc)

    def _reachable(self) -> None:
        if self._unreachable_since is not None:
            log.info(
                "Redis is reachable again after %.1f s: following the change stream",
                time.monotonic() - self._unreachable_since,
            )
            self._unreachable_since = None

    def caught_up(self, timeout: float) -> bool:
        """Wait until this node has taken in every change that was in the stream when it was
        called (the other nodes' acknowledged writes); False after `timeout`."""
        try:
            info = self._stream_info()
        except Unavailable as exc:
            self._unreachable(exc)
            return False
        if info is None:
            return True
        target = _stream_id(info.get("last-generated-id", b"0-0"))
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._seen < target:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(left)
        return True


# --- leases -------------------------------------------------------------------------------

RENEW_IF_MINE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0
"""
_TAKE_IF_FREE = """
if redis.call('EXISTS', KEYS[1]) == 1 then return false end
local token = redis.call('INCR', KEYS[2])
redis.call('SET', KEYS[1], token, 'PX', ARGV[1])
return token
"""
_RELEASE_IF_MINE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


class RedisLeases:
    """Named leases held by one holder across the cluster. Each is taken with a fencing
    token (a number that only grows), renewed by this process while held, and lost when
    the holder dies (after `ttl` seconds), so another node can take it then. `still_held`
    tells a holder, before it commits, whether its lease is still its own."""

    def __init__(self, client: redis.Redis, prefix: str, ttl: float = 10.0) -> None:
        self._redis = client
        self._prefix = f"{PREFIX}lease:{prefix}:"  # a namespace of their own
        self.ttl_ms = int(ttl * 1000)
        self._renew = client.register_script(RENEW_IF_MINE)
        self._release = client.register_script(_RELEASE_IF_MINE)
        self._take = client.register_script(_TAKE_IF_FREE)
        self._held: dict[str, str] = {}
        self._guard = threading.Lock()
        self._renewer: threading.Thread | None = None

    def try_take(self, name: str) -> str | None:
        """The lease's fencing token, or None while another holds it; errors.Unavailable
        when Redis does not answer."""
        with reaching_redis():  # one round trip; a token is drawn only when the lease is free
            taken = self._take(keys=[self._prefix + name, PREFIX + "fence"], args=[self.ttl_ms])
        if taken is None:
            return None
        token = str(taken)
        with self._guard:
            self._held[name] = token
            if self._renewer is None or not self._renewer.is_alive():
                self._renewer = threading.Thread(
                    target=self._renew_loop, daemon=True, name="lease-renewer"
                )
                self._renewer.start()
        return token

    def take(self, name: str, wait: float) -> str | None:
        """Wait up to `wait` seconds for the lease."""
        deadline = time.monotonic() + wait
        delay = 0.002
        while True:
            token = self.try_take(name)
            if token is not None or time.monotonic() >= deadline:
                return token
            time.sleep(delay)
            delay = min(delay * 2, 0.025)  # leases are held for a batch: milliseconds

    def is_taken(self, name: str) -> bool:
        """Whether some node holds this lease now."""
        return bool(self._redis.exists(self._prefix + name))

    def still_held(self, name: str, token: str) -> bool:
        with reaching_redis():
            value = self._redis.get(self._prefix + name)
        return value is not None and value.decode() == token

    def release(self, name: str, token: str) -> None:
        with self._guard:
            if self._held.get(name) == token:
                del self._held[name]
        with contextlib.suppress(*Unavailable):  # else it runs out by itself
            self._release(keys=[self._prefix + name], args=[token])

    def _renew_loop(self) -> None:
        while True:
            time.sleep(self.ttl_ms / 3000)
            with self._guard:
                held = dict(self._held)
                if not held:
                    self._renewer = None
                    return
            for name, token in held.items():
                try:
                    if not self._renew(keys=[self._prefix + name], args=[token, self.ttl_ms]):
                        log.warning("lost the lease %s%s (it ran out)", self._prefix, name)
                        with self._guard:
                            self._held.pop(name, None)
                except Unavailable as exc:
                    log.warning("could not renew the lease %s%s: %s", self._prefix, name, exc)
