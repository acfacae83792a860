"""Export configurations of a cluster in Redis (`cluster.redis_url`), the same records and
answers as stores/state/export_configs.py keeps in SQLite for a single process: each one
a JSON value in one hash, listed by owner through sorted sets (oldest first). What a
single process kept in its SQLite file is taken over the first time the cluster needs
it."""

from __future__ import annotations

import json
import logging
import uuid
from pathlib import Path
from typing import Any

import redis

from .export_configs import COLUMNS, FIELDS, ExportConfigurations, _now
from .redis import PREFIX, Once, reaching_redis

log = logging.getLogger(__name__)

CONFIGS = PREFIX + "export-configs"  # hash: id -> the record as JSON
OF_USER = PREFIX + "export-configs-of-user:"  # sorted set per user: personal ones
OF_ORG = PREFIX + "export-configs-of-org:"  # sorted set per organization
TAKEN_OVER = PREFIX + "export-configs-taken-over"

_UPDATE = """
local raw = redis.call('HGET', KEYS[1], ARGV[1])
if not raw then return false end
local record = cjson.decode(raw)
for name, value in pairs(cjson.decode(ARGV[2])) do record[name] = value end
record['updated_at'] = ARGV[3]
local out = cjson.encode(record)
redis.call('HSET', KEYS[1], ARGV[1], out)
return out
"""

_COLUMNS = [c.strip() for c in COLUMNS.split(",")]


def _owner_key(record: dict[str, Any]) -> str:
    org = record.get("organization_id")
    return OF_ORG + org if org else OF_USER + str(record["user_id"])


class RedisExportConfigurations:
    def __init__(self, client: redis.Redis, sqlite_path: Path) -> None:
        self._redis = client
        self._sqlite_path = sqlite_path
        self._update = client.register_script(_UPDATE)
        self._ready = Once(self._take_over_local)

    def close(self) -> None:
        """The client is the cluster's, closed with it."""

    def _take_over_local(self) -> None:
        """The configurations a single process kept (its SQLite file) are kept."""
        if not self._sqlite_path.exists() or not self._redis.set(TAKEN_OVER, "1", nx=True):
            return
        local = ExportConfigurations(self._sqlite_path)
        try:
            rows = local.all()
        finally:
            local.close()
        for row in rows:
            self._store(row)
        if rows:
            log.info("took over %d export configurations from %s", len(rows), self._sqlite_path)

    def _store(self, record: dict[str, Any]) -> None:
        pipe = self._redis.pipeline()
        pipe.hset(CONFIGS, record["id"], json.dumps(record))
        # members ordered by (created_at, id): the score is 0, the member sorts itself
        pipe.zadd(_owner_key(record), {f"{record['created_at']} {record['id']}": 0})
        pipe.execute()

    def _listed(self, key: str) -> list[dict[str, Any]]:
        with reaching_redis():
            self._ready()
            members = self._redis.zrange(key, 0, -1)
            ids = [m.decode().split(" ", 1)[1] for m in members]
            raws = self._redis.hmget(CONFIGS, ids) if ids else []
        return [self._record(raw) for raw in raws if raw is not None]

    @staticmethod
    def _record(raw: bytes) -> dict[str, Any]:
        record = json.loads(raw)
        return {column: record.get(column) for column in _COLUMNS}

    def get(self, config_id: str) -> dict[str, Any] | None:
        with reaching_redis():
            self._ready()
            raw = self._redis.hget(CONFIGS, config_id)
        return self._record(raw) if raw is not None else None

    def of_user(self, user: str) -> list[dict[str, Any]]:
        """A user's personal configurations (not their organizations'), oldest first."""
        return self._listed(OF_USER + user)

    def of_organization(self, organization: str) -> list[dict[str, Any]]:
        return self._listed(OF_ORG + organization)

    def create(self, user: str, organization: str | None, values: dict[str, Any]) -> dict[str, Any]:
        now = _now()
        record = {
            "id": str(uuid.uuid4()),
            "created_at": now,
            "updated_at": now,
            "user_id": user,
            "organization_id": organization,
            **{f: values.get(f) for f in FIELDS},
        }
        with reaching_redis():
            self._ready()
            self._store(record)
        return self._record(json.dumps(record).encode())

    def update(self, config_id: str, changes: dict[str, Any]) -> dict[str, Any] | None:
        changes = {k: v for k, v in changes.items() if k in FIELDS}
        if not changes:
            return self.get(config_id)
        with reaching_redis():
            self._ready()
            raw = self._update(keys=[CONFIGS], args=[config_id, json.dumps(changes), _now()])
        return self._record(raw) if raw is not None else None

    def delete(self, config_id: str) -> None:
        record = self.get(config_id)
        if record is None:
            return
        with reaching_redis():
            pipe = self._redis.pipeline()
            pipe.hdel(CONFIGS, config_id)
            pipe.zrem(_owner_key(record), f"{record['created_at']} {config_id}")
            pipe.execute()
