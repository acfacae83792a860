"""Download tasks of a cluster in Redis (`cluster.redis_url`): the records tasks.py keeps
in SQLite for a single process, a hash per task, the queued ones in a sorted set by
age. Any node takes the oldest queued one in one step, so no two nodes take the same;
the bytes so far wait in the shared state dir (`downloads/<id>.part`)."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from typing import Any

import redis

from stores.state.redis import PREFIX, reaching_redis, set_fields

from .tasks import QUEUED, DownloadTask

TASK = PREFIX + "download:"  # hash per task
QUEUE = PREFIX + "downloads-queued"  # sorted set: queued ids by creation time
RUNNING_SET = PREFIX + "downloads-running"  # set: ids being downloaded by some node

_CLAIM = """
while true do
  local first = redis.call('ZRANGE', KEYS[1], 0, 0)[1]
  if not first then return false end
  redis.call('ZREM', KEYS[1], first)
  if redis.call('HGET', ARGV[1] .. first, 'status') == 'queued' then
    redis.call('HSET', ARGV[1] .. first, 'status', 'running')
    redis.call('SADD', KEYS[2], first)
    return first
  end
end
"""

_REQUEUE = """
if redis.call('HGET', KEYS[1], 'status') ~= 'running' then return 0 end
redis.call('HSET', KEYS[1], 'status', 'queued')
redis.call('SREM', KEYS[3], ARGV[1])
redis.call('ZADD', KEYS[2], redis.call('HGET', KEYS[1], 'created'), ARGV[1])
return 1
"""

_CANCEL = """
local status = redis.call('HGET', KEYS[1], 'status')
if not status then return false end
if status == 'queued' then
  redis.call('HSET', KEYS[1], 'status', 'canceled')
  redis.call('ZREM', KEYS[2], ARGV[1])
elseif status == 'running' then
  redis.call('HSET', KEYS[1], 'cancel', '1')
end
return status
"""

class RedisDownloadTasks:
    def __init__(self, client: redis.Redis) -> None:
        self._redis = client
        self._claim = client.register_script(_CLAIM)
        self._requeue = client.register_script(_REQUEUE)
        self._cancel = client.register_script(_CANCEL)

    def close(self) -> None:
        """The client is the cluster's, closed with it."""

    def add(self, username: str, request: dict[str, Any]) -> DownloadTask:
        task_id, now = str(uuid.uuid4()), time.time()
        fields = {"id": task_id, "created": repr(now), "status": QUEUED, "username": username,
                  "request": json.dumps(request), "bytes_done": 0, "cancel": 0}  # fmt: skip
        with reaching_redis():
            pipe = self._redis.pipeline()
            pipe.hset(TASK + task_id, mapping=fields)
            pipe.zadd(QUEUE, {task_id: now})
            pipe.execute()
        found = self.get(task_id)
        assert found is not None
        return found

    def get(self, task_id: str) -> DownloadTask | None:
        with reaching_redis():
            raw = self._redis.hgetall(TASK + task_id)
        if not raw:
            return None
        f = {k.decode(): v.decode() for k, v in raw.items()}
        return DownloadTask(
            id=f["id"],
            created=float(f["created"]),
            status=f["status"],
            username=f["username"],
            request=json.loads(f["request"]),
            bytes_done=int(f.get("bytes_done", 0)),
            bytes_total=int(f["bytes_total"]) if f.get("bytes_total") else None,
            asset_id=f.get("asset_id") or None,
            error=f.get("error") or None,
            validator=f.get("validator") or None,
            cancel=f.get("cancel") == "1",
        )

    def claim(self) -> DownloadTask | None:
        """The oldest queued task, now running (one node takes it, in one step)."""
        with reaching_redis():
            taken = self._claim(keys=[QUEUE, RUNNING_SET], args=[TASK])
        return self.get(taken.decode()) if taken else None

    def recover(self, still_running: Callable[[str], bool] | None = None) -> int:
        """After a restart: running tasks are queued again (they resume where they were),
        but those `still_running` says another node runs."""
        with reaching_redis():
            ids = [m.decode() for m in self._redis.smembers(RUNNING_SET)]
        again = [i for i in ids if still_running is None or not still_running(i)]
        for task_id in again:
            self.requeue(task_id)
        return len(again)

    def _set(self, task_id: str, values: dict[str, Any], finished: bool = False) -> None:
        with reaching_redis():
            pipe = self._redis.pipeline()
            set_fields(pipe, TASK + task_id, values)
            if finished:
                pipe.srem(RUNNING_SET, task_id)
                pipe.zrem(QUEUE, task_id)
            pipe.execute()

    def progress(self, task_id: str, done: int, total: int | None, validator: str | None) -> None:
        self._set(task_id, {"bytes_done": done, "bytes_total": total, "validator": validator})

    def finish(
        self, task_id: str, status: str, *, asset_id: str | None = None, error: str | None = None
    ) -> None:
        self._set(task_id, {"status": status, "asset_id": asset_id, "error": error}, True)

    def requeue(self, task_id: str) -> None:
        with reaching_redis():
            self._requeue(keys=[TASK + task_id, QUEUE, RUNNING_SET], args=[task_id])

    def cancel(self, task_id: str) -> str | None:
        """Cancel: a queued task at once, a running one at its next piece. Returns the
        status it had (None: no such task)."""
        with reaching_redis():
            before = self._cancel(keys=[TASK + task_id, QUEUE], args=[task_id])
        return before.decode() if before else None

    def cancel_asked(self, task_id: str) -> bool:
        with reaching_redis():
            return self._redis.hget(TASK + task_id, "cancel") == b"1"

