"""Small shared records of a cluster in Redis (`cluster.redis_url`): tag ids and asset
access times, which a single process keeps in SQLite files of its state dir (SQLite's
locking is not to be trusted on a network filesystem shared by several nodes). What a
node finds in those files when the cluster is first used is taken over, once."""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections.abc import Iterable
from pathlib import Path

import redis

from .redis import PREFIX, Once, Unavailable, reaching_redis

log = logging.getLogger(__name__)

TAG_IDS = PREFIX + "tag-ids"  # hash: name -> id
TAG_NAMES = PREFIX + "tag-names"  # hash: id -> name
TAG_SEQ = PREFIX + "tag-id-seq"  # the highest id ever handed out

_IDS_OF = """
local out = {}
for i, name in ipairs(ARGV) do
  local id = redis.call('HGET', KEYS[1], name)
  if not id then
    id = redis.call('INCR', KEYS[2])
    redis.call('HSET', KEYS[1], name, id)
    redis.call('HSET', KEYS[3], id, name)
  end
  out[i] = tonumber(id)
end
return out
"""

_TAKE_OVER = """
if redis.call('EXISTS', KEYS[2]) == 1 then return 0 end
for i = 2, #ARGV, 2 do
  redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1])
  redis.call('HSET', KEYS[3], ARGV[i + 1], ARGV[i])
end
redis.call('SET', KEYS[2], ARGV[1])
return 1
"""


def _sqlite_rows(path: Path, query: str) -> list[tuple]:
    """Rows of a single process's state file, read-only; none when there is no file."""
    if not path.exists():
        return []
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return conn.execute(query).fetchall()
    except sqlite3.Error as exc:
        log.warning("cannot read %s to take it over (%s); starting without it", path, exc)
        return []
    finally:
        conn.close()


class RedisTagIds:
    """A stable integer id per tag name, never reused, the same on every node (see
    stores/state TagIds). Ids never change once given, so each node remembers them."""

    def __init__(self, client: redis.Redis, sqlite_path: Path) -> None:
        self._redis = client
        self._sqlite_path = sqlite_path
        self._ids_of = client.register_script(_IDS_OF)
        self._take_over = client.register_script(_TAKE_OVER)
        self._guard = threading.Lock()
        self._ids: dict[str, int] = {}
        self._ready = Once(self._take_over_local)

    def _take_over_local(self) -> None:
        """Ids a single process gave before the cluster (its SQLite file) are kept."""
        rows = _sqlite_rows(self._sqlite_path, "SELECT name, id FROM tags ORDER BY id")
        highest = _sqlite_rows(
            self._sqlite_path, "SELECT seq FROM sqlite_sequence WHERE name = 'tags'"
        )
        top = max([int(i) for _n, i in rows] + [int(h[0]) for h in highest] + [0])
        flat: list[str | int] = [top]
        for name, tag_id in rows:
            flat += [str(name), int(tag_id)]
        if self._take_over(keys=[TAG_IDS, TAG_SEQ, TAG_NAMES], args=flat) and rows:
            log.info("took over %d tag ids from %s", len(rows), self._sqlite_path)

    def ids_of(self, names: Iterable[str]) -> dict[str, int]:
        wanted = list(dict.fromkeys(names))
        with self._guard:
            missing = [n for n in wanted if n not in self._ids]
            if missing:
                with reaching_redis():
                    self._ready()
                    given = self._ids_of(keys=[TAG_IDS, TAG_SEQ, TAG_NAMES], args=missing)
                self._ids.update(zip(missing, (int(i) for i in given), strict=True))
            return {n: self._ids[n] for n in wanted}

    def names_of(self, ids: Iterable[int]) -> dict[int, str]:
        wanted = list(dict.fromkeys(int(i) for i in ids))
        if not wanted:
            return {}
        with reaching_redis():
            self._ready()
            names = self._redis.hmget(TAG_NAMES, wanted)
        return {i: n.decode() for i, n in zip(wanted, names, strict=True) if n is not None}

    def all(self) -> dict[str, int]:
        with reaching_redis():
            self._ready()
            raw = self._redis.hgetall(TAG_IDS)
        pairs = sorted((int(i), n.decode()) for n, i in raw.items())
        return {name: tag_id for tag_id, name in pairs}

    def close(self) -> None:
        """The client is the cluster's, closed with it."""


ACCESS = PREFIX + "access-times"  # hash: asset uuid -> seconds since the epoch
ACCESS_TAKEN_OVER = PREFIX + "access-times-taken-over"
WRITE_EVERY = 60.0  # seconds: an asset fetched again sooner is not written again


class RedisAccessTimes:
    """When each asset's content was last fetched, the same on every node. A fetch never
    fails for it: with Redis down the time is not recorded (said once a minute)."""

    def __init__(self, client: redis.Redis, sqlite_path: Path) -> None:
        self._redis = client
        self._sqlite_path = sqlite_path
        self._lock = threading.Lock()
        self._written: dict[str, float] = {}
        self._ready = Once(self._take_over_local)
        self._last_complaint = -WRITE_EVERY

    def _take_over_local(self) -> None:
        """Access times a single process kept (its SQLite file) are kept. Marked done only
        once every row is copied (Redis failing in the middle: the next call goes on), and
        a time a node recorded meanwhile is never replaced by an older one (HSETNX; nodes
        doing this at once copy the same rows)."""
        if self._redis.exists(ACCESS_TAKEN_OVER):
            return
        rows = _sqlite_rows(self._sqlite_path, "SELECT uuid, at FROM access")
        for start in range(0, len(rows), 1000):
            pipe = self._redis.pipeline(transaction=False)
            for uuid, at in rows[start : start + 1000]:
                pipe.hsetnx(ACCESS, uuid, float(at))
            pipe.execute()
        self._redis.set(ACCESS_TAKEN_OVER, "1")

    def touch(self, uuid: str) -> None:
        now = time.time()
        with self._lock:
            if now - self._written.get(uuid, 0.0) < WRITE_EVERY:
                return
            try:
                self._ready()
                self._redis.hset(ACCESS, uuid, now)
            except Unavailable as exc:
                if now - self._last_complaint >= WRITE_EVERY:
                    self._last_complaint = now
                    log.warning("access times are not recorded while Redis does not "
                                "answer (%s)", exc)
                return
            self._written[uuid] = now

    def last(self, uuid: str) -> float | None:
        try:
            self._ready()
            raw = self._redis.hget(ACCESS, uuid)
        except Unavailable:
            return None  # an answer about an asset does not fail for it
        return float(raw) if raw is not None else None

    def close(self) -> None:
        """The client is the cluster's, closed with it."""
