"""Background jobs of a cluster in Redis (`cluster.redis_url`): the records
background.SqliteJobRecords keeps for a single process, a hash per job, so that
`GET /api/tasks/{id}` answers the same through every node."""

from __future__ import annotations

from typing import Any

import redis

from stores.state.redis import PREFIX, Unavailable, _unavailable

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
        try:
            pipe = self._redis.pipeline()
            pipe.hset(JOB + job_id, mapping=fields)
            pipe.sadd(UNFINISHED, job_id)
            pipe.execute()
        except Unavailable as exc:
            raise _unavailable(exc) from None

    def set(self, job_id: str, **values: Any) -> None:
        """Change some of `done`, `total`, `status`, `result` (JSON text), `error`."""
        present = {k: v for k, v in values.items() if v is not None}
        absent = [k for k, v in values.items() if v is None]
        try:
            pipe = self._redis.pipeline()
            if present:
                pipe.hset(JOB + job_id, mapping=present)
            if absent:
                pipe.hdel(JOB + job_id, *absent)
            if values.get("status") in ("done", "failed"):
                pipe.srem(UNFINISHED, job_id)
            pipe.execute()
        except Unavailable as exc:
            raise _unavailable(exc) from None

    def get(self, job_id: str) -> tuple[Any, ...] | None:
        try:
            raw = self._redis.hgetall(JOB + job_id)
        except Unavailable as exc:
            raise _unavailable(exc) from None
        if not raw:
            return None
        fields = {k.decode(): v.decode() for k, v in raw.items()}
        return tuple(
            _NUMBERS.get(c, str)(fields[c]) if c in fields else None for c in COLUMNS
        )

    def unfinished(self) -> list[str]:
        try:
            return [m.decode() for m in self._redis.smembers(UNFINISHED)]
        except Unavailable as exc:
            raise _unavailable(exc) from None
