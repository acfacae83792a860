"""Where a single process keeps its state: SQLite files (and upload records beside their
data) in its state dir. ClusterState (cluster.py) has the same methods and keeps the same
state in Redis, taking over these files once; the application asks whichever it has."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from meta_api.background import SqliteJobRecords
from meta_api.bulk_import import SqliteBulkRecords
from meta_api.downloads.tasks import DownloadTasks
from meta_api.model_library import Staging
from meta_api.tus.records import UploadFolder
from stores.state.export_configs import ExportConfigurations
from stores.state.local import SqliteTagIds
from stores.tokens import OneTimeTokens

from .access_times import AccessTimes
from .sqlite_state import SqliteLockStorage, SqlitePropertyManager

TAG_IDS = "tag-ids.sqlite"
ACCESS_TIMES = "asset-access.sqlite"
EXPORT_CONFIGURATIONS = "export-configurations.sqlite"
STAGING = "model-staging.sqlite"


class LocalState:
    def __init__(self, state_dir: Path) -> None:
        self.state_dir = state_dir
        self.props = SqlitePropertyManager(state_dir / "dav-properties.sqlite")
        self.locks = SqliteLockStorage(state_dir / "dav-locks.sqlite")
        self.spent = OneTimeTokens(state_dir / "presigned.sqlite")  # presigned URLs used

    def task_queue(self) -> None:
        """The worker pool keeps its own queue in the state dir."""
        return None

    def leases(self, kind: str, ttl: float = 10.0) -> None:
        """One process needs no leases: nobody else writes."""
        return None

    def tag_ids(self) -> SqliteTagIds:
        return SqliteTagIds(self.state_dir / TAG_IDS)

    def access_times(self) -> AccessTimes:
        return AccessTimes(self.state_dir / ACCESS_TIMES)

    def export_configurations(self) -> ExportConfigurations:
        return ExportConfigurations(self.state_dir / EXPORT_CONFIGURATIONS)

    def staging(self) -> Staging:
        return Staging(self.state_dir / STAGING)

    def job_records(self) -> SqliteJobRecords:
        return SqliteJobRecords(self.state_dir / "jobs.sqlite")

    def bulk_records(self) -> SqliteBulkRecords:
        return SqliteBulkRecords(self.state_dir / "bulk-imports.sqlite")

    def download_tasks(self) -> DownloadTasks:
        return DownloadTasks(self.state_dir / "downloads.sqlite")

    def upload_folder(self, folder: Path) -> Any:
        return UploadFolder(folder)
