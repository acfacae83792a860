"""Bulk import jobs of a cluster in Redis (`cluster.redis_url`): the records
bulk_import.SqliteBulkRecords keeps for a single process. A hash per job with its
counters, the set of rows done, the list of errors; a row is counted once, in one Lua
step, whichever node records it (a job that moved to another node after its first node
died goes on where it was)."""

from __future__ import annotations

import json
from typing import Any

import redis

from stores.state.redis import PREFIX, reaching_redis

from .bulk_import import JOB_FIELDS, now

JOB = PREFIX + "bulk-job:"  # hash per job
DONE = PREFIX + "bulk-done:"  # set per job: the numbers of the rows counted
ERRORS = PREFIX + "bulk-errors:"  # list per job: [row, column, value, message] as JSON
RUNNING = PREFIX + "bulk-running"  # set: ids of running jobs
_INTS = {"total_rows", "processed", "succeeded", "failed"}

_FINISH_ROW = """
if redis.call('SADD', KEYS[2], ARGV[1]) == 0 then return 0 end
for i = 3, #ARGV do redis.call('RPUSH', KEYS[3], ARGV[i]) end
redis.call('HINCRBY', KEYS[1], 'processed', 1)
redis.call('HINCRBY', KEYS[1], ARGV[2], 1)
return 1
"""


class RedisBulkRecords:
    def __init__(self, client: redis.Redis) -> None:
        self._redis = client
        self._finish_row = client.register_script(_FINISH_ROW)

    def close(self) -> None:
        """The client is the cluster's, closed with it."""

    def add(self, job_id: str, username: str, store: str, project: str, csv: str) -> None:
        fields = {"id": job_id, "created_at": now(), "status": "running", "username": username,
                  "store": store, "project": project, "csv": csv, "total_rows": 0,
                  "processed": 0, "succeeded": 0, "failed": 0}  # fmt: skip
        pipe = self._redis.pipeline()
        pipe.hset(JOB + job_id, mapping=fields)
        pipe.sadd(RUNNING, job_id)
        with reaching_redis():
            pipe.execute()

    def running(self) -> list[str]:
        with reaching_redis():
            return [m.decode() for m in self._redis.smembers(RUNNING)]

    def _fields(self, job_id: str) -> dict[str, str]:
        with reaching_redis():
            raw = self._redis.hgetall(JOB + job_id)
        return {k.decode(): v.decode() for k, v in raw.items()}

    def get(self, job_id: str) -> dict[str, Any] | None:
        fields = self._fields(job_id)
        if not fields:
            return None
        return {
            name: (int(fields[name]) if name in _INTS else fields[name]) if name in fields else None
            for name in JOB_FIELDS
        }

    def csv_of(self, job_id: str) -> str:
        return self._fields(job_id)["csv"]

    def done_rows(self, job_id: str) -> set[int]:
        with reaching_redis():
            return {int(m) for m in self._redis.smembers(DONE + job_id)}

    def errors(self, job_id: str) -> list[tuple[Any, ...]]:
        """(row, column, value, message), by row, in the order they were found."""
        with reaching_redis():
            found = [tuple(json.loads(e)) for e in self._redis.lrange(ERRORS + job_id, 0, -1)]
        return sorted(found, key=lambda error: error[0])

    def finish_row(self, job_id: str, number: int, problems: list[tuple[Any, ...]]) -> None:
        """Count a row once: succeeded, or failed with its (column, value, message)s."""
        column = "failed" if problems else "succeeded"
        errors = [json.dumps([number, *problem]) for problem in problems]
        with reaching_redis():
            self._finish_row(keys=[JOB + job_id, DONE + job_id, ERRORS + job_id],
                             args=[number, column, *errors])  # fmt: skip

    def set_total(self, job_id: str, total: int) -> None:
        with reaching_redis():
            self._redis.hset(JOB + job_id, "total_rows", total)

    def end(self, job_id: str, status: str) -> None:
        pipe = self._redis.pipeline()
        pipe.hset(JOB + job_id, mapping={"status": status, "finished_at": now()})
        pipe.srem(RUNNING, job_id)
        with reaching_redis():
            pipe.execute()
