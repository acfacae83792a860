"""The records of partial uploads of a cluster in Redis (`cluster.redis_url`), their data
still in the shared state dir (`uploads/<id>.data`). The order of records.py holds: a
record's offset is written only after the data up to it was fsynced. Should Redis lose
the last second of writes (it fsyncs once a second), a record says less than its data
holds, and `settle` cuts the data back to it: the client sends those bytes again. Records
a single process left as files beside their data are taken over the first time the
cluster needs them."""

from __future__ import annotations

import logging
from pathlib import Path

import redis

from stores.atomic import unlink_quietly
from stores.state.redis import PREFIX, Once, reaching_redis

from .records import UPLOAD_ID, UploadFolder, UploadRecord

log = logging.getLogger(__name__)

RECORDS = PREFIX + "tus-uploads"  # hash: upload id -> the record as JSON


class RedisUploadFolder(UploadFolder):
    def __init__(self, path: Path, client: redis.Redis) -> None:
        super().__init__(path)
        self._redis = client
        self._ready = Once(self._take_over_local)

    def _take_over_local(self) -> None:
        """Records left as files (a single process's) move into Redis."""
        moved = 0
        for upload_id in super().ids():
            record_file = self.record_path(upload_id)
            try:
                raw = record_file.read_bytes()
            except FileNotFoundError:
                continue
            self._redis.hsetnx(RECORDS, upload_id, raw)
            unlink_quietly(record_file)
            moved += 1
        if moved:
            log.info("took over %d upload records from %s", moved, self.path)

    def load(self, upload_id: str) -> UploadRecord | None:
        if not UPLOAD_ID.fullmatch(upload_id):
            return None
        with reaching_redis():
            self._ready()
            raw = self._redis.hget(RECORDS, upload_id)
        if raw is None:
            return None
        try:
            return UploadRecord.from_json(raw)
        except (ValueError, TypeError) as exc:
            log.warning("upload record %s is unusable (%s); it is removed", upload_id, exc)
            self.remove(upload_id)
            return None

    def save(self, record: UploadRecord) -> None:
        with reaching_redis():
            self._ready()
            self._redis.hset(RECORDS, record.id, record.to_json())

    def remove(self, upload_id: str) -> None:
        """The record first, then the data: a crash between leaves only a stray data file."""
        with reaching_redis():
            self._redis.hdel(RECORDS, upload_id)
        unlink_quietly(self.data_path(upload_id))

    def ids(self) -> list[str]:
        with reaching_redis():
            self._ready()
            return sorted(i.decode() for i in self._redis.hkeys(RECORDS))

