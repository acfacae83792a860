"""The task queue of a cluster, in Redis: the same states and rules as the SQLite queue
(queue.py), shared by every node's workers. A node takes a task with a lease that it
renews while the task runs; when a node dies its leases run out and any node puts those
tasks back (`recover`, run at start and every few seconds), so they run again elsewhere.
One asset never has two tasks running: taking a task also takes its asset, in the same
atomic step (a Lua script)."""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

from stores.state.redis import PREFIX, RENEW_IF_MINE, Unavailable

from .queue import CANCEL, CANCEL_THEN_RESET, NEW, NewTask, Task

log = logging.getLogger(__name__)

K = PREFIX + "tasks:"
NEXT_ID, ALL, WAITING, RUNNING_SET = K + "next-id", K + "all", K + "new", K + "running"
TASK, LEASE, ASSET = K + "task:", K + "lease:", K + "asset:"
FIELDS = (
    "id", "created_on", "priority", "status", "username", "store_id", "project_id",
    "asset_id", "version", "filename", "extension", "worker_type", "task_options",
    "worker_name", "start_time", "end_time", "error", "cancel_requested",
)  # fmt: skip
CLAIM_LOOK_AHEAD = 1000  # waiting tasks looked at per claim (those of busy assets skipped)

# KEYS: -; ARGV: now, lease ms, node, JSON {worker_type: worker_name}
_CLAIM = f"""
local names = cjson.decode(ARGV[4])
local ids = redis.call('ZRANGE', '{WAITING}', 0, {CLAIM_LOOK_AHEAD - 1})
for _, id in ipairs(ids) do
  local t = redis.call('HMGET', '{TASK}' .. id, 'worker_type', 'store_id', 'project_id',
                       'asset_id')
  local name = names[t[1]]
  if name then
    local asset = '{ASSET}' .. t[2] .. '/' .. t[3] .. '/' .. t[4]
    if redis.call('SET', asset, id, 'NX') then
      redis.call('ZREM', '{WAITING}', id)
      redis.call('SADD', '{RUNNING_SET}', id)
      redis.call('SET', '{LEASE}' .. id, ARGV[3], 'PX', ARGV[2])
      redis.call('HSET', '{TASK}' .. id, 'status', 'processing', 'worker_name', name,
                 'start_time', ARGV[1], 'end_time', '', 'error', '', 'cancel_requested', 0)
      return id
    end
  end
end
return false
"""

# Let go of a running task's asset, lease and place among the running (KEYS[1]: its id)
_LET_GO = f"""
local function let_go(id)
  local t = redis.call('HMGET', '{TASK}' .. id, 'store_id', 'project_id', 'asset_id')
  local asset = '{ASSET}' .. t[1] .. '/' .. t[2] .. '/' .. t[3]
  if redis.call('GET', asset) == id then redis.call('DEL', asset) end
  redis.call('DEL', '{LEASE}' .. id)
  redis.call('SREM', '{RUNNING_SET}', id)
end
local function to_new(id)
  local t = redis.call('HMGET', '{TASK}' .. id, 'priority', 'created_on')
  redis.call('HSET', '{TASK}' .. id, 'status', 'new', 'worker_name', '', 'start_time', '',
             'end_time', '', 'error', '', 'cancel_requested', 0)
  redis.call('ZADD', '{WAITING}', -tonumber(t[1]) * 1e13 + tonumber(t[2]) * 1000, id)
end
"""

# KEYS[1]: id; ARGV: status, now, error
_FINISH = (
    _LET_GO
    + """
local id = KEYS[1]
local t = redis.call('HMGET', '{TASK}' .. id, 'status', 'cancel_requested')
if t[1] ~= 'processing' and t[1] ~= 'canceling' then return false end
let_go(id)
if tonumber(t[2]) == {CANCEL_THEN_RESET} then to_new(id) return 'new' end
redis.call('HSET', '{TASK}' .. id, 'status', ARGV[1], 'end_time', ARGV[2], 'error', ARGV[3])
return ARGV[1]
"""
)

# KEYS[1]: id; ARGV: now; only_if_lease_lost ("1": leave it while its lease lives)
_REQUEUE = (
    _LET_GO
    + """
local id = KEYS[1]
if ARGV[2] == '1' and redis.call('EXISTS', '{LEASE}' .. id) == 1 then return false end
local t = redis.call('HMGET', '{TASK}' .. id, 'status', 'cancel_requested')
if t[1] ~= 'processing' and t[1] ~= 'canceling' then
  redis.call('SREM', '{RUNNING_SET}', id)
  return false
end
let_go(id)
if t[1] == 'canceling' and tonumber(t[2]) == {CANCEL} then
  redis.call('HSET', '{TASK}' .. id, 'status', 'canceled', 'end_time', ARGV[1])
  return 'canceled'
end
to_new(id)
return 'new'
"""
)

# KEYS[1]: id; ARGV: now
_CANCEL = """
local id = KEYS[1]
local status = redis.call('HGET', '{TASK}' .. id, 'status')
if not status then return false end
if status == 'new' then
  redis.call('ZREM', '{WAITING}', id)
  redis.call('HSET', '{TASK}' .. id, 'status', 'canceled', 'end_time', ARGV[1])
elseif status == 'processing' then
  redis.call('HSET', '{TASK}' .. id, 'status', 'canceling', 'cancel_requested', {CANCEL})
end
return status
"""

# KEYS[1]: id
_RESET = (
    _LET_GO
    + """
local id = KEYS[1]
local status = redis.call('HGET', '{TASK}' .. id, 'status')
if not status then return false end
if status == 'canceling' then
  redis.call('HSET', '{TASK}' .. id, 'cancel_requested', {CANCEL_THEN_RESET})
elseif status ~= 'processing' then
  to_new(id)
end
return status
"""
)


def _script(text: str) -> str:
    return (
        text.replace("{TASK}", TASK)
        .replace("{WAITING}", WAITING)
        .replace("{LEASE}", LEASE)
        .replace("{RUNNING_SET}", RUNNING_SET)
        .replace("{ASSET}", ASSET)
        .replace("{CANCEL_THEN_RESET}", str(CANCEL_THEN_RESET))
        .replace("{CANCEL}", str(CANCEL))
    )


def _waiting_score(priority: int, created_on: float) -> float:
    """Highest priority first, then oldest: the order of the SQLite queue."""
    return -priority * 1e13 + created_on * 1000


class RedisTaskQueue:
    """The queue's interface (queue.TaskQueue) over Redis, for every node of a cluster."""

    def __init__(self, client: Any, node: str, lease: float = 10.0) -> None:
        self._redis = client
        self.node = node
        self.lease_ms = int(lease * 1000)
        self._claim = client.register_script(_CLAIM)
        self._finish = client.register_script(_script(_FINISH))
        self._requeue = client.register_script(_script(_REQUEUE))
        self._cancel = client.register_script(_script(_CANCEL))
        self._reset = client.register_script(_script(_RESET))
        self._renew = client.register_script(RENEW_IF_MINE)
        self._held: set[int] = set()
        # told of a cancel asked for through another node, of a task this node runs
        self.on_cancel: Callable[[int], None] | None = None
        self._guard = threading.Lock()
        self._stop = threading.Event()
        self._keeper = threading.Thread(target=self._keep_leases, name="task-leases", daemon=True)
        self._keeper.start()

    def close(self) -> None:
        self._stop.set()

    # --- reading ----------------------------------------------------------------------

    def get(self, task_id: int) -> Task | None:
        values = self._redis.hmget(TASK + str(task_id), FIELDS)
        if values[0] is None:
            return None
        text = [v.decode() if v is not None else "" for v in values]
        return Task(
            id=int(text[0]),
            created_on=float(text[1]),
            priority=int(text[2]),
            status=text[3],
            username=text[4],
            store_id=text[5],
            project_id=text[6],
            asset_id=text[7],
            version=int(text[8]),
            filename=text[9],
            extension=text[10],
            worker_type=text[11],
            options=json.loads(text[12] or "{}"),
            worker_name=text[13] or None,
            start_time=float(text[14]) if text[14] else None,
            end_time=float(text[15]) if text[15] else None,
            error=text[16] or None,
            cancel_requested=bool(int(text[17] or 0)),
        )

    def newest_first(self) -> list[Task]:
        ids = self._redis.zrevrange(ALL, 0, -1)
        return [t for t in (self.get(int(i)) for i in ids) if t is not None]

    def is_cancel_requested(self, task_id: int) -> bool:
        return bool(int(self._redis.hget(TASK + str(task_id), "cancel_requested") or 0))

    # --- changing ---------------------------------------------------------------------

    def add(self, new: NewTask) -> Task:
        task_id = int(self._redis.incr(NEXT_ID))
        now = time.time()
        pipe = self._redis.pipeline()  # MULTI/EXEC: seen whole or not at all
        pipe.hset(
            TASK + str(task_id),
            mapping={
                "id": task_id,
                "created_on": repr(now),
                "priority": new.priority,
                "status": NEW,
                "username": new.username,
                "store_id": new.store_id,
                "project_id": new.project_id,
                "asset_id": new.asset_id,
                "version": new.version,
                "filename": new.filename,
                "extension": new.extension,
                "worker_type": new.worker_type,
                "task_options": json.dumps(new.options),
                "worker_name": "",
                "start_time": "",
                "end_time": "",
                "error": "",
                "cancel_requested": 0,
            },
        )
        pipe.zadd(ALL, {task_id: now})
        pipe.zadd(WAITING, {task_id: _waiting_score(new.priority, now)})
        pipe.execute()
        found = self.get(task_id)
        assert found is not None
        return found

    def claim(self, worker_types: Iterable[str], worker_names: dict[str, str]) -> Task | None:
        names = {t: worker_names[t] for t in set(worker_types)}
        if not names:
            return None
        claimed = self._claim(args=[repr(time.time()), self.lease_ms, self.node, json.dumps(names)])
        if not claimed:
            return None
        task_id = int(claimed)
        with self._guard:
            self._held.add(task_id)
        return self.get(task_id)

    def _let_go(self, task_id: int) -> None:
        with self._guard:
            self._held.discard(task_id)

    def finish(self, task_id: int, status: str, error: str | None = None) -> None:
        self._let_go(task_id)
        self._finish(keys=[str(task_id)], args=[status, repr(time.time()), error or ""])

    def requeue(self, task_id: int) -> None:
        self._let_go(task_id)
        self._requeue(keys=[str(task_id)], args=[repr(time.time()), "0"])

    def cancel(self, task_id: int) -> str | None:
        before = self._cancel(keys=[str(task_id)], args=[repr(time.time())])
        return before.decode() if before else None

    def reset(self, task_id: int) -> str | None:
        before = self._reset(keys=[str(task_id)])
        return before.decode() if before else None

    def recover(self) -> list[Task]:
        """Tasks whose node died (their lease ran out) go back to `new` (or end `canceled`
        when a cancel was asked for); those of live nodes are left alone."""
        recovered = []
        for raw in self._redis.smembers(RUNNING_SET):
            task_id = int(raw)
            with self._guard:
                if task_id in self._held:
                    continue
            if self._requeue(keys=[str(task_id)], args=[repr(time.time()), "1"]):
                found = self.get(task_id)
                if found is not None:
                    recovered.append(found)
        return recovered

    def _keep_leases(self) -> None:
        """Renew this node's leases; put back the tasks of nodes whose leases ran out."""
        every = self.lease_ms / 3000
        while not self._stop.wait(every):
            with self._guard:
                held = sorted(self._held)
            try:
                for task_id in held:
                    if not self._renew(
                        keys=[LEASE + str(task_id)], args=[self.node, self.lease_ms]
                    ):
                        log.warning("lost the lease of task %d (it ran out)", task_id)
                    elif self.on_cancel is not None and self.is_cancel_requested(task_id):
                        self.on_cancel(task_id)
                for task in self.recover():
                    log.warning(
                        "task %d was held by a node that stopped answering; it is %s again",
                        task.id,
                        task.status,
                    )
            except Unavailable as exc:
                log.warning("could not renew the task leases: %s", exc)
