"""Pending models of a cluster in Redis (`cluster.redis_url`): the same records as
staging.py keeps in SQLite for a single process, one JSON value per id, each model file
staged once across the nodes. A single process's staging file is taken over the first
time the cluster needs it."""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path

import redis

from stores.state.redis import PREFIX, Once, reaching_redis

from .staging import PendingModel, Staging

log = logging.getLogger(__name__)

PENDING = PREFIX + "staged-models"  # hash: id -> the record as JSON (its id is the key)
SOURCES = PREFIX + "staged-model-sources"  # hash: model file path -> id
SEQ = PREFIX + "staged-model-seq"  # the highest id ever given

_ADD = """
if redis.call('HEXISTS', KEYS[2], ARGV[1]) == 1 then return false end
local id = redis.call('INCR', KEYS[3])
redis.call('HSET', KEYS[1], id, ARGV[2])
redis.call('HSET', KEYS[2], ARGV[1], id)
return id
"""

_REMOVE = """
local raw = redis.call('HGET', KEYS[1], ARGV[1])
if not raw then return 0 end
redis.call('HDEL', KEYS[2], cjson.decode(raw)['source'])
return redis.call('HDEL', KEYS[1], ARGV[1])
"""

_TAKE_OVER = """
if redis.call('EXISTS', KEYS[3]) == 1 then return 0 end
for i = 2, #ARGV do
  local record = cjson.decode(ARGV[i])
  redis.call('HSET', KEYS[1], record['id'], ARGV[i])
  redis.call('HSET', KEYS[2], record['source'], record['id'])
end
redis.call('SET', KEYS[3], ARGV[1])
return 1
"""

_KEYS = [PENDING, SOURCES, SEQ]


def _record(model: PendingModel) -> str:
    return json.dumps({**model.__dict__, "created": time.time()})


class RedisStaging:
    def __init__(self, client: redis.Redis, sqlite_path: Path) -> None:
        self._redis = client
        self._sqlite_path = sqlite_path
        self._add = client.register_script(_ADD)
        self._remove = client.register_script(_REMOVE)
        self._take_over = client.register_script(_TAKE_OVER)
        self._ready = Once(self._take_over_local)

    def close(self) -> None:
        """The client is the cluster's, closed with it."""

    def _take_over_local(self) -> None:
        """The models a single process staged (its SQLite file) stay staged."""
        staged: list[PendingModel] = []
        if self._sqlite_path.exists() and not self._redis.exists(SEQ):
            local = Staging(self._sqlite_path)
            try:
                staged = local.all()
            finally:
                local.close()
        top = max([m.id for m in staged] + [0])
        if self._take_over(keys=_KEYS, args=[top, *map(_record, staged)]) and staged:
            log.info("took over %d staged models from %s", len(staged), self._sqlite_path)

    def add(
        self,
        origin: str,
        sha256: str,
        name: str,
        type_: str,
        source: Path,
        meta_json: str = "{}",
        tags: list[str] | None = None,
        images: list[str] | None = None,
    ) -> int | None:
        """Stage one model; None when its file is staged already (by any node)."""
        model = PendingModel(0, origin, sha256.lower(), name, type_, str(source), meta_json,
                             tags or [], images or [])  # fmt: skip
        with reaching_redis():
            self._ready()
            given = self._add(keys=_KEYS, args=[str(source), _record(model)])
        return int(given) if given is not None else None

    def all(self) -> list[PendingModel]:
        with reaching_redis():
            self._ready()
            raw = self._redis.hgetall(PENDING)
        models = []
        for key, value in raw.items():
            record = json.loads(value)
            record.pop("created", None)
            record["id"] = int(key)
            models.append(PendingModel(**record))
        return sorted(models, key=lambda m: m.id)

    def get(self, ids: list[int]) -> dict[int, PendingModel]:
        wanted = set(ids)
        return {p.id: p for p in self.all() if p.id in wanted}

    def staged_sources(self) -> set[str]:
        with reaching_redis():
            self._ready()
            return {s.decode() for s in self._redis.hkeys(SOURCES)}

    def remove(self, pending_id: int) -> None:
        with reaching_redis():
            self._ready()
            self._remove(keys=_KEYS, args=[pending_id])
