"""A single process's access times, taken over when its state dir joins a cluster: every
row is copied, and a time a node recorded meanwhile is never replaced by an older one.
Real SQLite (the single process's own store) and a real redis-server."""

from __future__ import annotations

import time

import pytest
import redis
from cluster_setup import REDIS, RedisServer

from davserver.access_times import AccessTimes
from stores.state.redis_records import ACCESS, ACCESS_TAKEN_OVER, RedisAccessTimes

pytestmark = pytest.mark.skipif(REDIS is None, reason="redis-server is not installed")


def test_every_time_is_taken_over_and_none_made_older(tmp_path):
    sqlite_path = tmp_path / "access-times.sqlite"
    single = AccessTimes(sqlite_path)
    single.touch("kept-by-the-single-process")
    single.touch("fetched-again-through-a-node")
    single.close()
    before = time.time()

    server = RedisServer(tmp_path / "redis").start()
    try:
        client = redis.Redis.from_url(server.url)
        newer = before + 1000.0
        client.hset(ACCESS, "fetched-again-through-a-node", newer)  # a node, in the meantime
        assert not client.exists(ACCESS_TAKEN_OVER)

        times = RedisAccessTimes(client, sqlite_path)
        kept = times.last("kept-by-the-single-process")
        assert kept is not None and before - 60 < kept <= before
        assert times.last("fetched-again-through-a-node") == newer
        assert client.exists(ACCESS_TAKEN_OVER)

        # taken over once: a row the single process's file gains later is not copied again
        late = AccessTimes(sqlite_path)
        late.touch("written-after-the-take-over")
        late.close()
        assert RedisAccessTimes(client, sqlite_path).last("written-after-the-take-over") is None
    finally:
        server.stop()
