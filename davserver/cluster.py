"""Joining a cluster (`cluster.redis_url`): several nodes over one shared tree. What is
not the tree moves from the state dir to Redis (stores/state/redis.py,
davserver/redis_state.py), and every node's index follows the others' changes through
a Redis stream. Without a URL none of this is imported."""

from __future__ import annotations

import logging
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import local_state
from .config import Settings

log = logging.getLogger("assetdav")


def node_name(settings: Settings) -> str:
    return settings.cluster.node_name or f"{socket.gethostname()}:{settings.port}"


@dataclass
class ClusterState:
    """The cluster's shared state in Redis; the record stores have LocalState's methods
    (local_state.py), and take over the files a single process left in `state_dir`."""

    client: Any  # redis.Redis
    node: str
    props: Any  # RedisPropertyManager
    locks: Any  # RedisLockStorage
    spent: Any  # RedisOneTimeTokens
    state_dir: Path

    def throttle(self, max_delay: float) -> Any:
        from stores.state.redis import RedisLoginThrottle

        return RedisLoginThrottle(self.client, max_delay)

    def leases(self, kind: str, ttl: float = 10.0) -> Any:
        from stores.state.redis import RedisLeases

        return RedisLeases(self.client, kind, ttl)

    def tag_ids(self) -> Any:
        from stores.state.redis_records import RedisTagIds

        return RedisTagIds(self.client, self.state_dir / local_state.TAG_IDS)

    def access_times(self) -> Any:
        from stores.state.redis_records import RedisAccessTimes

        return RedisAccessTimes(self.client, self.state_dir / local_state.ACCESS_TIMES)

    def export_configurations(self) -> Any:
        from stores.state.redis_export_configs import RedisExportConfigurations

        path = self.state_dir / local_state.EXPORT_CONFIGURATIONS
        return RedisExportConfigurations(self.client, path)

    def upload_folder(self, folder: Path) -> Any:
        from meta_api.tus.redis_records import RedisUploadFolder

        return RedisUploadFolder(folder, self.client)

    def bulk_records(self) -> Any:
        from meta_api.redis_bulk import RedisBulkRecords

        return RedisBulkRecords(self.client)

    def download_tasks(self) -> Any:
        from meta_api.downloads.redis_tasks import RedisDownloadTasks

        return RedisDownloadTasks(self.client)

    def job_records(self) -> Any:
        from meta_api.redis_jobs import RedisJobRecords

        return RedisJobRecords(self.client)

    def staging(self) -> Any:
        from meta_api.model_library.redis_staging import RedisStaging

        return RedisStaging(self.client, self.state_dir / local_state.STAGING)

    def task_queue(self) -> Any:
        from meta_api.workers.redis_queue import RedisTaskQueue

        return RedisTaskQueue(self.client, self.node)

    def read_snapshots(self, app: Any) -> Any:
        from .redis_state import read_snapshots

        return read_snapshots(app)

    def lock_guard(self) -> Any:
        from .redis_state import ClusterLockGuard

        return ClusterLockGuard(self.client)

    def change_stream(self, feed: Any) -> Any:
        from stores.state.redis import ChangeStream

        return ChangeStream(self.client, feed, self.node)

    def close(self) -> None:
        self.client.close()


def join_cluster(settings: Settings) -> ClusterState:
    """The shared state of the cluster at `cluster.redis_url` (connected lazily: a node
    starts while Redis is down, and reconnects by itself)."""
    try:
        from stores.state.redis import RedisOneTimeTokens, connect

        from .redis_state import RedisLockStorage, RedisPropertyManager
    except ImportError as exc:
        raise SystemExit(
            f"cluster.redis_url needs the redis client ({exc}): pip install 'assetdav[cluster]'"
        ) from None
    client = connect(settings.cluster.redis_url)
    node = node_name(settings)
    log.info("node %s joins the cluster at %s", node, _without_password(settings))
    return ClusterState(
        client,
        node,
        RedisPropertyManager(client),
        RedisLockStorage(client),
        RedisOneTimeTokens(client),
        settings.state_dir,
    )


def _without_password(settings: Settings) -> str:
    """The Redis URL for the log: never its credentials."""
    url = settings.cluster.redis_url
    scheme, sep, rest = url.partition("://")
    if "@" in rest:
        rest = "***@" + rest.split("@", 1)[1]
    return f"{scheme}{sep}{rest}"
