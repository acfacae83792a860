"""WebDAV state in Redis for a cluster of nodes (`cluster.redis_url`): dead properties and
locks that every node sees, and the lock manager's write transactions made exclusive
across the nodes (a LOCK through one node and a LOCK of the same resource through
another cannot both win). The single-process server keeps these in SQLite
(davserver/sqlite_state.py)."""

from __future__ import annotations

import logging
import pickle
import threading
from collections.abc import Iterator
from typing import Any

import redis
from wsgidav import util
from wsgidav.lock_man.lock_manager import normalize_lock_root
from wsgidav.lock_man.lock_storage_redis import LockStorageRedis
from wsgidav.rw_lock import ReadWriteLock

from stores import errors
from stores.state.redis import PREFIX, Unavailable

log = logging.getLogger(__name__)

PROPS = PREFIX + "props:"  # a hash per URL: property name -> value
PROP_URLS = PREFIX + "prop-urls"  # the URLs that have dead properties (a lexical sorted set)


def _norm(url: str) -> str:
    return url.rstrip("/") or "/"


def _pack(value: Any) -> bytes:
    """Values come back as the type they were written (WsgiDAV gives str or bytes)."""
    return b"b" + value if isinstance(value, bytes) else b"s" + str(value).encode()


def _unpack(raw: bytes | None) -> Any:
    if raw is None:
        return None
    return raw[1:] if raw[:1] == b"b" else raw[1:].decode()


LISTING_METHODS = frozenset({"PROPFIND"})
_request = threading.local()  # .snapshots: a listing's view of which URLs have state


def read_snapshots(app: Any) -> Any:
    """WSGI wrapper: within a PROPFIND (which lists many resources), which URLs below the
    first one asked about have dead properties or locks is read from Redis once, not once
    per resource; URLs that have some are still read one by one. Other requests read
    Redis directly (a write's checks must see the latest state)."""

    def scoped(environ: dict, start_response: Any) -> Any:
        if environ.get("REQUEST_METHOD") not in LISTING_METHODS:
            return app(environ, start_response)
        return _with_snapshots(app, environ, start_response)

    return scoped


def _with_snapshots(app: Any, environ: dict, start_response: Any) -> Iterator[bytes]:
    """WsgiDAV does its work while its answer is iterated, so the scope spans that."""
    _request.snapshots = {}
    try:
        answer = app(environ, start_response)
        try:
            yield from answer
        finally:
            close = getattr(answer, "close", None)
            if close is not None:
                close()
    finally:
        _request.snapshots = None


def _in_snapshot(client: redis.Redis, members_key: str, url: str) -> bool | None:
    """Whether `url` is a member of the sorted set, from this read request's snapshot of
    the part below the first URL asked about; None outside a read request or that part."""
    snapshots = getattr(_request, "snapshots", None)
    if snapshots is None:
        return None
    for prefix, members in snapshots.get(members_key, ()):
        if url == prefix or url.startswith(prefix.rstrip("/") + "/"):
            return url in members
    low = url.encode()
    found = client.zrangebylex(members_key, b"[" + low, b"(" + low.rstrip(b"/") + b"/\xff")
    members = {m.decode() for m in found}
    snapshots.setdefault(members_key, []).append((url, members))
    return url in members


class RedisPropertyManager:
    """WsgiDAV property manager for dead properties of any namespace, keyed by URL."""

    def __init__(self, client: redis.Redis) -> None:
        self._redis = client

    def __repr__(self) -> str:
        return "RedisPropertyManager()"

    def _below(self, url: str) -> list[str]:
        """The URLs with properties strictly below `url`."""
        prefix = url.rstrip("/") + "/"
        found = self._redis.zrangebylex(
            PROP_URLS, b"[" + prefix.encode(), b"(" + prefix.encode() + b"\xff"
        )
        return [u.decode() for u in found]

    def get_properties(self, norm_url: str, environ: dict | None = None) -> list[str]:
        url = _norm(norm_url)
        if _in_snapshot(self._redis, PROP_URLS, url) is False:
            return []
        return [n.decode() for n in self._redis.hkeys(PROPS + url)]

    def get_property(self, norm_url: str, name: str, environ: dict | None = None) -> Any:
        url = _norm(norm_url)
        if _in_snapshot(self._redis, PROP_URLS, url) is False:
            return None
        return _unpack(self._redis.hget(PROPS + url, name))

    def write_property(
        self,
        norm_url: str,
        name: str,
        property_value: Any,
        dry_run: bool = False,
        environ: dict | None = None,
    ) -> None:
        if dry_run:
            return
        url = _norm(norm_url)
        pipe = self._redis.pipeline()
        pipe.hset(PROPS + url, name, _pack(property_value))
        pipe.zadd(PROP_URLS, {url: 0})
        pipe.execute()

    def remove_property(
        self, norm_url: str, name: str, dry_run: bool = False, environ: dict | None = None
    ) -> None:
        if dry_run:
            return
        url = _norm(norm_url)
        self._redis.hdel(PROPS + url, name)
        if not self._redis.exists(PROPS + url):
            self._redis.zrem(PROP_URLS, url)

    def remove_properties(self, norm_url: str, environ: dict | None = None) -> None:
        url = _norm(norm_url)
        urls = [url, *self._below(url)]
        pipe = self._redis.pipeline()
        pipe.delete(*(PROPS + u for u in urls))
        pipe.zrem(PROP_URLS, *urls)
        pipe.execute()

    def _copy_one(self, pipe: Any, src: str, dest: str) -> None:
        values = self._redis.hgetall(PROPS + src)
        pipe.delete(PROPS + dest)
        if values:
            pipe.hset(PROPS + dest, mapping=values)
            pipe.zadd(PROP_URLS, {dest: 0})
        else:
            pipe.zrem(PROP_URLS, dest)

    def copy_properties(self, src_url: str, dest_url: str, environ: dict | None = None) -> None:
        pipe = self._redis.pipeline()
        self._copy_one(pipe, _norm(src_url), _norm(dest_url))
        pipe.execute()

    def copy_properties_tree(self, src_url: str, dest_url: str) -> None:
        """A resource's dead properties and those of everything below it (COPY, Depth
        infinity)."""
        src, dest = _norm(src_url), _norm(dest_url)
        pipe = self._redis.pipeline()
        self._copy_one(pipe, src, dest)
        for url in self._below(src):
            self._copy_one(pipe, url, dest.rstrip("/") + url[len(src.rstrip("/")) :])
        pipe.execute()

    def move_properties(
        self, src_url: str, dest_url: str, with_children: bool, environ: dict | None = None
    ) -> None:
        src, dest = _norm(src_url), _norm(dest_url)
        moves = [(src, dest)]
        if with_children:
            base = src.rstrip("/")
            moves += [(u, dest.rstrip("/") + u[len(base) :]) for u in self._below(src)]
        pipe = self._redis.pipeline()  # MULTI/EXEC: other nodes see all of it or none
        pipe.delete(PROPS + dest)
        for old, new in moves:
            values = self._redis.hgetall(PROPS + old)
            pipe.delete(PROPS + old)
            pipe.zrem(PROP_URLS, old)
            if values:
                pipe.delete(PROPS + new)
                pipe.hset(PROPS + new, mapping=values)
                pipe.zadd(PROP_URLS, {new: 0})
        pipe.execute()

    def close(self) -> None:
        """The client is shared; nothing of this object's own to close."""


class RedisLockStorage(LockStorageRedis):
    """WsgiDAV's Redis lock storage on our client. The roots of live locks are also kept
    in a lexically sorted set, so the locks below a folder (checked by every DELETE, MOVE
    and COPY of a folder) are found by a range, never by scanning the keyspace; tokens of
    expired locks are dropped from their root's list when next met."""

    ROOTS = PREFIX + "dav-lock-roots"

    def __init__(self, client: redis.Redis) -> None:
        super().__init__()
        self._client = client
        self._redis_prefix = PREFIX + "dav-{}"
        self._redis_lock_prefix = self._redis_prefix.format("lock:{}")
        self._redis_url2token_prefix = self._redis_prefix.format("URL2TOKEN:{}")

    def __repr__(self) -> str:
        return "RedisLockStorage()"

    def open(self) -> None:
        self._redis = self._client

    def clear(self) -> None:
        for key in self._redis.scan_iter(match=self._redis_prefix.format("*")):
            self._redis.delete(key)
        self._redis.delete(self.ROOTS)

    def create(self, path: str, lock: dict[str, Any]) -> dict[str, Any]:
        created = super().create(path, lock)
        self._redis.zadd(self.ROOTS, {created["root"]: 0})
        return created

    def delete(self, token: str) -> bool:
        raw = self._redis.get(self._redis_lock_prefix.format(token))
        deleted = super().delete(token)
        if raw is not None:
            self._forget_root_if_unused(pickle.loads(raw).get("root"))
        return deleted

    def _forget_root_if_unused(self, root: str | None) -> None:
        if root and not self._redis.llen(self._redis_url2token_prefix.format(root)):
            self._redis.zrem(self.ROOTS, root)

    def get_lock_list(
        self, path: str, *, include_root: bool, include_children: bool, token_only: bool
    ) -> list[Any]:
        path = normalize_lock_root(path)
        found: list[Any] = []
        if include_root:
            found += self._locks_at(path, token_only)
        if include_children:
            below = path.rstrip("/") + "/"
            for root in self._redis.zrangebylex(
                self.ROOTS, b"[" + below.encode(), b"(" + below.encode() + b"\xff"
            ):
                found += self._locks_at(root.decode(), token_only)
        return found

    def prefetch_chain(self, url: str) -> None:
        """Read the lock lists of `url` and of every folder above it in one round trip,
        for the write check that is about to walk up that chain (cleared by `forget_chain`)."""
        chain = []
        u = normalize_lock_root(url)
        while u:
            chain.append(u)
            u = util.get_uri_parent(u)
        pipe = self._redis.pipeline(transaction=False)
        for u in chain:
            pipe.lrange(self._redis_url2token_prefix.format(u), 0, -1)
        _request.chain = dict(zip(chain, pipe.execute(), strict=True))

    @staticmethod
    def forget_chain() -> None:
        _request.chain = None

    def _tokens_at(self, root: str) -> list[bytes]:
        chain = getattr(_request, "chain", None)
        if chain is not None and root in chain:
            return chain[root]
        if _in_snapshot(self._redis, self.ROOTS, root) is False:
            return []
        return self._redis.lrange(self._redis_url2token_prefix.format(root), 0, -1)

    def _locks_at(self, root: str, token_only: bool) -> list[Any]:
        """The live locks whose root is `root` (expired ones are dropped on the way)."""
        key = self._redis_url2token_prefix.format(root)
        locks = []
        for raw in self._tokens_at(root):
            token = raw.decode()
            lock = self.get(token)  # None when expired
            if lock is None:
                self._redis.lrem(key, 0, token)
                self._forget_root_if_unused(root)
            else:
                locks.append(lock["token"] if token_only else lock)
        return locks


class ClusterLockGuard(ReadWriteLock):
    """The lock manager's guard: a write transaction that changes the shared locks
    (LOCK, refresh, UNLOCK) also holds a Redis lock, so it is exclusive across the nodes;
    reads stay local (a node's readers run side by side), and so do the marks WsgiDAV sets
    around every PUT (`_active_writes`, which live in this process only: serialising them
    across the cluster cost two Redis lock round trips per PUT and bought nothing)."""

    def __init__(self, client: redis.Redis) -> None:
        super().__init__()
        self._shared = client.lock(
            PREFIX + "dav-lock-manager", timeout=30, blocking_timeout=30, sleep=0.005
        )
        self._held = threading.local()

    def install(self, manager: Any) -> None:
        """Become `manager`'s guard, its per-request write marks taken locally, and its
        write checks reading the chain of lock lists above a URL in one round trip."""
        manager._lock = self
        for name in ("_begin_write_transaction", "_end_write_transaction"):
            setattr(manager, name, self._local(getattr(manager, name)))
        storage, conflicts = manager.storage, manager._get_write_conflicts

        def chain_read_at_once(url: str, *args: Any, **kwargs: Any) -> Any:
            storage.prefetch_chain(url)
            try:
                return conflicts(url, *args, **kwargs)
            finally:
                storage.forget_chain()

        manager._get_write_conflicts = chain_read_at_once

    def _local(self, method: Any) -> Any:
        def locally(*args: Any, **kwargs: Any) -> Any:
            self._held.local_only = True
            try:
                return method(*args, **kwargs)
            finally:
                self._held.local_only = False

        return locally

    def _is_writer(self) -> bool:
        return self._ReadWriteLock__writer is threading.current_thread()  # type: ignore[attr-defined]

    def acquire_write(self, *, timeout: float | None = None) -> None:
        super().acquire_write(timeout=timeout)
        if getattr(self._held, "shared", False) or getattr(self._held, "local_only", False):
            return  # a nested write transaction of this thread, or a local mark
        try:
            taken = self._shared.acquire()
        except BaseException:
            super().release()  # Redis down: this node's guard must not stay taken
            raise
        if not taken:
            super().release()
            raise errors.Unavailable(
                "Another node held the cluster's WebDAV lock manager for 30 s; try again."
            )
        self._held.shared = True

    def release(self) -> None:
        super().release()
        if getattr(self._held, "shared", False) and not self._is_writer():
            self._held.shared = False
            try:
                self._shared.release()
            except redis.LockError:
                log.warning("the cluster's WebDAV lock guard had expired before its release")
            except Unavailable as exc:
                log.warning("could not release the cluster's WebDAV lock guard (%s); it "
                            "expires by itself in 30 s", exc)
