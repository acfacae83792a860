"""Background jobs of a cluster in Redis (`cluster.redis_url`): the records
background.SqliteJobRecords keeps for a single process, a hash per job, so that
`GET /api/tasks/{id}` answers the same through every node."""

from __future__ import annotations

from typing import Any

import redis

from stores.state.redis import PREFIX, reaching_redis, set_fields

from .background import COLUMNS

JOB = PREFIX + "job:"  # hash per job: its columns (absent ones are None)
UNFINISHED = PREFIX + "jobs-unfinished"  # set: ids of running jobs
_NUMBERS = {"created": float, "done": int, "total": int}


class RedisJobRecords:
    def __init__(self, client: redis.Redis) -> None:
        self._redis = client

    def close(self) -> None:
        """The client is the cluster's, closed with it."""

    def add(self, job_id: str, created: float, kind: str, username: str) -> None:
        fields = {"id": job_id, "created": created, "kind": kind, "status": "running",
                  "username": username, "done": 0}  # fmt: skip
        with reaching_redis():
            pipe = self._redis.pipeline()
            pipe.hset(JOB + job_id, mapping=fields)
            pipe.sadd(UNFINISHED, job_id)
            pipe.execute()

    def set(self, job_id: str, **values: Any) -> None:
        """Change some of `done`, `total`, `status`, `result` (JSON text), `error`."""
        with reaching_redis():
            pipe = self._redis.pipeline()
            set_fields(pipe, JOB + job_id, values)
            if values.get("status") in ("done", "failed"):
                pipe.srem(UNFINISHED, job_id)
            pipe.execute()

    def get(self, job_id: str) -> tuple[Any, ...] | None:
        with reaching_redis():
            raw = self._redis.hgetall(JOB + job_id)
        if not raw:
            return None
        fields = {k.decode(): v.decode() for k, v in raw.items()}
        return tuple(
            _NUMBERS.get(c, str)(fields[c]) if c in fields else None for c in COLUMNS
        )

    def unfinished(self) -> list[str]:
        with reaching_redis():
            return [m.decode() for m in self._redis.smembers(UNFINISHED)]
