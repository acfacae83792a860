"""Settings: one YAML file, overridden by environment variables, overridden by flags."""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from stores.rules import NO_RULES, WINDOWS_RESERVED, UploadRules

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CONFIG = REPO_ROOT / "conf" / "assetdav.yaml"
LOOPBACK_HOSTS = {"127.0.0.1", "::1", "localhost"}


class ConfigError(Exception):
    """A setting that cannot be used; the message names it and says how to fix it."""


@dataclass
class StoreSettings:
    name: str
    path: Path
    seed_demo: bool = False
    rules: UploadRules = NO_RULES
    dedup: str = "off"  # "link": a file landing with bytes the store has becomes a hard link


@dataclass
class WorkerSettings:
    """The worker pool (previews, tiles, unpacking) and the limits of the built-in workers."""

    threads: int = 2
    zip_max_files: int = 10_000
    zip_max_total_bytes: int = 2 << 30
    dzi_max_pixels: int = 250_000_000
    dzi_max_tiles: int = 100_000


@dataclass
class IndexSettings:
    """The search index: how it notices edits made on disk behind the server's back."""

    watch: bool = True  # inotify: such edits are found within seconds
    reconcile_interval: int = 300  # seconds between full comparisons of tree and index
    read_timeout: int = 10  # seconds a search waits for the index to take in recent writes
    path: Path | None = None  # None: <state_dir>/index; a node's own folder in a cluster

    def folder(self, state_dir: Path) -> Path:
        return self.path or state_dir / "index"


@dataclass
class UploadSettings:
    """Resumable (tus) uploads: how long an unfinished one is kept, and the largest one."""

    expire_after: int = 86400  # seconds after its last write
    max_size: int = 1 << 40  # bytes, for stores without a max_file_size rule


@dataclass
class LimitSettings:
    """What one client may take: connections, time to send a request, header sizes."""

    connections_per_address: int = 64
    header_timeout: int = 10  # seconds for the request line and all headers
    min_body_rate: int = 1024  # bytes/s a body must average, after its first header_timeout
    max_request_line: int = 8 * 1024  # bytes; longer is 414
    max_header_bytes: int = 64 * 1024  # bytes of all header fields; more is 431
    max_header_fields: int = 100  # more is 431
    idle_timeout: int = 60  # seconds a kept-alive connection may wait for its next request


LIMIT_RANGES = {
    "connections_per_address": (1, 100_000),
    "header_timeout": (1, 3600),
    "min_body_rate": (0, 1 << 30),
    "max_request_line": (1024, 1 << 20),
    "max_header_bytes": (4096, 16 << 20),
    "max_header_fields": (16, 10_000),
    "idle_timeout": (1, 3600),
}


@dataclass
class DerivedSettings:
    """Previews and conversions, cached in <state_dir>/derived (see README)."""

    max_bytes: int = 5 << 30  # the cache's bound; least recently used files go first
    max_pixels: int = 100_000_000  # larger sources are refused with 413
    concurrency: int = 0  # conversions at once; 0: one per CPU
    timeout: int = 30  # seconds a request waits for its conversion, then 503
    background: bool = True  # make low and medium previews of every file as it lands
    sizes: dict[str, int] = field(
        default_factory=lambda: {"low": 256, "medium": 1024, "high": 2048}
    )


DERIVED_RANGES = {
    "max_pixels": (1_000_000, 10**10),
    "concurrency": (0, 256),
    "timeout": (1, 3600),
}
PREVIEW_SIDE = (16, 16384)


def _derived_from_yaml(raw: Any, derived: DerivedSettings, source: str) -> None:
    where = f"{source}derived"
    raw = _options(raw, where, ("max_bytes", "background", "preview_sizes", *DERIVED_RANGES))
    for key, value in (raw or {}).items():
        if key == "max_bytes":
            derived.max_bytes = parse_size(value, f"{where}.max_bytes")
        elif key == "background":
            derived.background = _as_bool(value, f"{where}.background")
        elif key == "preview_sizes":
            sizes = _options(value, f"{where}.preview_sizes", ("low", "medium", "high")) or {}
            for quality, side in sizes.items():
                derived.sizes[quality] = _as_int(
                    side, f"{where}.preview_sizes.{quality}", *PREVIEW_SIDE
                )
        else:
            setattr(derived, key, _as_int(value, f"{where}.{key}", *DERIVED_RANGES[key]))


@dataclass
class HashSettings:
    """Which digests every file's sidecar record holds beside xxh3-128 and blake3."""

    sha256: bool = False  # model identity for model managers and CivitAI


@dataclass
class DownloadSettings:
    """Downloads from URLs (POST /api/assets/download): who may be fetched from, how long."""

    allow_hosts: list[str] = field(default_factory=list)  # hosts allowed despite their address
    timeout: int = 3600  # seconds one attempt at a download may take in all
    threads: int = 2  # downloads at once


@dataclass
class ModelSettings:
    """The model library of the model manager's face (/compat/model-manager/)."""

    store: str = ""  # "": the first configured store; it records sha256 whatever hashes say


@dataclass
class SartiqSettings:
    """Sartiq's face (/compat/sartiq/): where its presigned uploads go."""

    store: str = ""  # "": the first configured store
    project: str = "uploads"  # made on first use


@dataclass
class MigrationSettings:
    """Where a migration may read legacy libraries from (an administrator's setting)."""

    allowed_roots: list[Path] = field(default_factory=list)


@dataclass
class LlamaSettings:
    """llama-stack's files face (/compat/llama-stack/): its buckets are projects of `store`."""

    store: str = ""  # "": the first configured store


@dataclass
class AssetSettings:
    """Where `POST /api/assets` puts an upload that names no store or project."""

    default_store: str = ""  # "" : the first configured store
    default_project: str = "assets"  # made on first use


@dataclass
class ClusterSettings:
    """Several nodes over one shared tree, coordinated through Redis (off when no URL)."""

    redis_url: str = ""  # redis://host:port/db; "" = one process, no Redis
    node_name: str = ""  # in the access log and the change stream; "" = <hostname>:<port>


@dataclass
class WebdavSettings:
    propfind_depth_infinity: bool = False  # answer PROPFIND Depth: infinity (else 403)


@dataclass
class Settings:
    host: str = "127.0.0.1"
    port: int = 8080
    state_dir: Path = field(default_factory=lambda: Path("var/state"))
    stores: dict[str, StoreSettings] = field(default_factory=dict)
    allow_anonymous: bool = False
    allow_anonymous_read: bool = False  # reads without credentials see public projects
    log_level: str = "INFO"
    show_sidecars: bool = False
    threads: int = 16
    max_threads: int = 128
    users_file: Path | None = None
    token_ttl: int = 12 * 3600
    failed_login_delay_max: float = 5.0
    workers: WorkerSettings = field(default_factory=WorkerSettings)
    index: IndexSettings = field(default_factory=IndexSettings)
    uploads: UploadSettings = field(default_factory=UploadSettings)
    limits: LimitSettings = field(default_factory=LimitSettings)
    webdav: WebdavSettings = field(default_factory=WebdavSettings)
    derived: DerivedSettings = field(default_factory=DerivedSettings)
    hashes: HashSettings = field(default_factory=HashSettings)
    assets: AssetSettings = field(default_factory=AssetSettings)
    downloads: DownloadSettings = field(default_factory=DownloadSettings)
    llama: LlamaSettings = field(default_factory=LlamaSettings)
    models: ModelSettings = field(default_factory=ModelSettings)
    migration: MigrationSettings = field(default_factory=MigrationSettings)
    sartiq: SartiqSettings = field(default_factory=SartiqSettings)
    cluster: ClusterSettings = field(default_factory=ClusterSettings)
    config_file: Path | None = None

    @property
    def is_loopback(self) -> bool:
        return self.host in LOOPBACK_HOSTS or self.host.startswith("127.")


ENV_VARS = {
    "ASSETDAV_HOST": "host",
    "ASSETDAV_PORT": "port",
    "ASSETDAV_STATE_DIR": "state_dir",
    "ASSETDAV_STORES": "stores",
    "ASSETDAV_ALLOW_ANONYMOUS": "allow_anonymous",
    "ASSETDAV_ALLOW_ANONYMOUS_READ": "allow_anonymous_read",
    "ASSETDAV_LOG_LEVEL": "log_level",
    "ASSETDAV_SHOW_SIDECARS": "show_sidecars",
    "ASSETDAV_THREADS": "threads",
    "ASSETDAV_MAX_THREADS": "max_threads",
    "ASSETDAV_CONNECTIONS_PER_ADDRESS": "connections_per_address",
    "ASSETDAV_HEADER_TIMEOUT": "header_timeout",
    "ASSETDAV_MIN_BODY_RATE": "min_body_rate",
    "ASSETDAV_PROPFIND_DEPTH_INFINITY": "propfind_depth_infinity",
    "ASSETDAV_USERS_FILE": "users_file",
    "ASSETDAV_TOKEN_TTL": "token_ttl",
    "ASSETDAV_FAILED_LOGIN_DELAY_MAX": "failed_login_delay_max",
    "ASSETDAV_WORKER_THREADS": "worker_threads",
    "ASSETDAV_INDEX_WATCH": "index_watch",
    "ASSETDAV_RECONCILE_INTERVAL": "reconcile_interval",
    "ASSETDAV_INDEX_READ_TIMEOUT": "index_read_timeout",
    "ASSETDAV_UPLOAD_EXPIRE": "upload_expire",
    "ASSETDAV_DERIVED_MAX_BYTES": "derived_max_bytes",
    "ASSETDAV_DERIVED_BACKGROUND": "derived_background",
    "ASSETDAV_HASH_SHA256": "hash_sha256",
    "ASSETDAV_DOWNLOAD_ALLOW_HOSTS": "download_allow_hosts",
    "ASSETDAV_MIGRATION_ALLOWED_ROOTS": "migration_allowed_roots",
    "ASSETDAV_REDIS_URL": "redis_url",
    "ASSETDAV_NODE_NAME": "node_name",
    "ASSETDAV_INDEX_PATH": "index_path",
}


def parse_store_specs(specs: list[str], base: Path) -> dict[str, StoreSettings]:
    """`NAME=PATH` pairs (from `--store` or `ASSETDAV_STORES`, `;`-separated)."""
    stores: dict[str, StoreSettings] = {}
    for spec in specs:
        name, sep, path = spec.partition("=")
        if not sep or not name.strip() or not path.strip():
            raise ConfigError(f"A store is given as NAME=PATH, not {spec!r}.")
        stores[name.strip()] = StoreSettings(name.strip(), _resolve(path.strip(), base))
    return stores


def _resolve(path: str | Path, base: Path) -> Path:
    p = Path(os.path.expanduser(str(path)))
    return p if p.is_absolute() else (base / p).resolve()


def _as_bool(value: Any, name: str) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off", ""):
        return False
    raise ConfigError(f"{name} must be true or false, not {value!r}.")


def _as_int(value: Any, name: str, low: int, high: int) -> int:
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{name} must be a whole number, not {value!r}.") from None
    if not low <= number <= high:
        raise ConfigError(f"{name} must be between {low} and {high}, not {number}.")
    return number


def _stores_from_yaml(raw: Any, base: Path) -> dict[str, StoreSettings]:
    if raw is None:
        return {}
    if not isinstance(raw, Mapping):
        raise ConfigError("'stores' must map store names to paths or to {path: ...}.")
    stores: dict[str, StoreSettings] = {}
    for name, value in raw.items():
        if isinstance(value, str):
            stores[str(name)] = StoreSettings(str(name), _resolve(value, base))
            continue
        if not isinstance(value, Mapping) or "path" not in value:
            raise ConfigError(f"Store {name!r} needs a 'path'.")
        unknown = set(value) - {"path", "seed_demo", "rules", "dedup"}
        if unknown:
            raise ConfigError(f"Store {name!r} has unknown options {sorted(unknown)}.")
        stores[str(name)] = StoreSettings(
            str(name),
            _resolve(value["path"], base),
            seed_demo=_as_bool(value.get("seed_demo", False), f"stores.{name}.seed_demo"),
            rules=parse_rules(value.get("rules"), f"stores.{name}.rules"),
            dedup=_dedup(value.get("dedup", "off"), f"stores.{name}.dedup"),
        )
    return stores


def _paths(value: Any, base: Path, source: str) -> list[Path]:
    """Folders (a list, or text separated by the system's path separator, `:`)."""
    items = value.split(os.pathsep) if isinstance(value, str) else value
    if not isinstance(items, list) or not all(isinstance(p, str) for p in items):
        raise ConfigError(f"{source}migration.allowed_roots must be a list of folders.")
    return [_resolve(p.strip(), base) for p in items if p.strip()]


def _host_list(value: Any, source: str) -> list[str]:
    """Host names (a list, or text separated by commas)."""
    items = value.split(",") if isinstance(value, str) else value
    if not isinstance(items, list) or not all(isinstance(h, str) for h in items):
        raise ConfigError(f"{source}downloads.allow_hosts must be a list of host names.")
    return [h.strip().lower() for h in items if h.strip()]


def _dedup(value: Any, where: str) -> str:
    text = "off" if value is False else str(value).strip().lower()
    if text not in ("off", "link"):
        raise ConfigError(f"{where} must be off or link, not {value!r}.")
    return text


_UNITS = {
    "": 1,
    "b": 1,
    "kb": 10**3,
    "kib": 1 << 10,
    "mb": 10**6,
    "mib": 1 << 20,
    "gb": 10**9,
    "gib": 1 << 30,
    "tb": 10**12,
    "tib": 1 << 40,
}


def parse_size(value: Any, name: str) -> int:
    """A size in bytes: a number, or text like `500 MiB` or `2GB`."""
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return value
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*", str(value))
    if not match or match.group(2).lower() not in _UNITS:
        raise ConfigError(f"{name} must be a size like 1048576, 500 MiB or 2GB, not {value!r}.")
    size = int(float(match.group(1)) * _UNITS[match.group(2).lower()])
    if size <= 0:
        raise ConfigError(f"{name} must be more than 0 bytes.")
    return size


def _options(raw: Any, where: str, allowed: Iterable[str]) -> Mapping[str, Any] | None:
    """A section of options: None when absent; a mapping of known options, else ConfigError."""
    if raw is None:
        return None
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{where} must be a mapping of options ({', '.join(allowed)}).")
    unknown = set(raw) - set(allowed)
    if unknown:
        raise ConfigError(f"{where} has unknown options {sorted(unknown)}.")
    return raw


def parse_rules(raw: Any, where: str) -> UploadRules:
    """A store's upload rules (see README, "Upload rules")."""
    raw = _options(raw, where, ("max_file_size", "allowed_types", "filename"))
    if raw is None:
        return NO_RULES
    types = raw.get("allowed_types") or []
    if not isinstance(types, list) or not all(isinstance(t, str) and "/" in t for t in types):
        raise ConfigError(f"{where}.allowed_types must be a list like [image/*, application/zip].")
    names = raw.get("filename") or {}
    if not isinstance(names, Mapping) or set(names) - {
        "max_length",
        "forbidden_characters",
        "reserved_names",
    }:
        raise ConfigError(
            f"{where}.filename takes max_length, forbidden_characters and reserved_names."
        )
    reserved = names.get("reserved_names") or []
    if reserved == "windows":
        reserved = sorted(WINDOWS_RESERVED)
    if not isinstance(reserved, list):
        raise ConfigError(f"{where}.filename.reserved_names must be a list or 'windows'.")
    return UploadRules(
        max_file_size=parse_size(raw["max_file_size"], f"{where}.max_file_size")
        if raw.get("max_file_size") is not None
        else None,
        allowed_types=tuple(t.lower() for t in types),
        max_name_length=_as_int(
            names.get("max_length", 255), f"{where}.filename.max_length", 1, 255
        ),
        forbidden_characters=str(names.get("forbidden_characters") or ""),
        reserved_names=frozenset(str(n).upper() for n in reserved),
    )


WORKER_LIMITS = {
    "threads": (0, 64),
    "zip_max_files": (1, 10**9),
    "zip_max_total_bytes": (1, 1 << 50),
    "dzi_max_pixels": (1, 10**12),
    "dzi_max_tiles": (1, 10**8),
}


def _workers_from_yaml(raw: Any, workers: WorkerSettings, source: str) -> None:
    raw = _options(raw, f"{source}workers", WORKER_LIMITS)
    for key, value in (raw or {}).items():
        low, high = WORKER_LIMITS[key]
        setattr(workers, key, _as_int(value, f"{source}workers.{key}", low, high))


def _index_from_yaml(raw: Any, index: IndexSettings, source: str, base: Path) -> None:
    raw = _options(raw, f"{source}index", ("watch", "reconcile_interval", "read_timeout", "path"))
    if raw is None:
        return
    if "path" in raw:
        index.path = _resolve(str(raw["path"]), base) if raw["path"] else None
    if "watch" in raw:
        index.watch = _as_bool(raw["watch"], f"{source}index.watch")
    if "reconcile_interval" in raw:
        index.reconcile_interval = _as_int(
            raw["reconcile_interval"], f"{source}index.reconcile_interval", 1, 86400
        )
    if "read_timeout" in raw:
        index.read_timeout = _as_int(raw["read_timeout"], f"{source}index.read_timeout", 1, 600)


def _cluster_text(value: Any, where: str) -> str:
    text = "" if value is None else str(value).strip()
    if (
        where.endswith("redis_url")
        and text
        and not text.startswith(("redis://", "rediss://", "unix://"))
    ):
        raise ConfigError(f"{where} is a redis://HOST:PORT/DB URL, not {text!r}.")
    return text


MAX_UPLOAD_EXPIRE = 366 * 86400  # seconds


def _uploads_from_yaml(raw: Any, uploads: UploadSettings, source: str) -> None:
    raw = _options(raw, f"{source}uploads", ("expire_after", "max_size"))
    if raw is None:
        return
    if "expire_after" in raw:
        uploads.expire_after = _as_int(
            raw["expire_after"], f"{source}uploads.expire_after", 1, MAX_UPLOAD_EXPIRE
        )
    if "max_size" in raw:
        uploads.max_size = parse_size(raw["max_size"], f"{source}uploads.max_size")


def _limits_from_yaml(raw: Any, limits: LimitSettings, source: str) -> None:
    raw = _options(raw, f"{source}limits", LIMIT_RANGES)
    for key, value in (raw or {}).items():
        low, high = LIMIT_RANGES[key]
        setattr(limits, key, _as_int(value, f"{source}limits.{key}", low, high))


def _apply(settings: Settings, key: str, value: Any, base: Path, source: str) -> None:
    if key == "host":
        settings.host = str(value)
    elif key == "port":
        settings.port = _as_int(value, f"{source}port", 0, 65535)
    elif key == "state_dir":
        settings.state_dir = _resolve(value, base)
    elif key == "allow_anonymous":
        settings.allow_anonymous = _as_bool(value, f"{source}allow_anonymous")
    elif key == "allow_anonymous_read":
        settings.allow_anonymous_read = _as_bool(value, f"{source}allow_anonymous_read")
    elif key == "log_level":
        level = str(value).upper()
        if level not in ("DEBUG", "INFO", "WARNING", "ERROR"):
            raise ConfigError(f"{source}log_level must be DEBUG, INFO, WARNING or ERROR.")
        settings.log_level = level
    elif key == "show_sidecars":
        settings.show_sidecars = _as_bool(value, f"{source}show_sidecars")
    elif key == "threads":
        settings.threads = _as_int(value, f"{source}threads", 2, 256)
    elif key == "max_threads":
        settings.max_threads = _as_int(value, f"{source}max_threads", 2, 4096)
    elif key == "limits":
        _limits_from_yaml(value, settings.limits, source)
    elif key in LIMIT_RANGES:
        low, high = LIMIT_RANGES[key]
        setattr(settings.limits, key, _as_int(value, f"{source}limits.{key}", low, high))
    elif key == "webdav":
        raw = _options(value, f"{source}webdav", ("propfind_depth_infinity",)) or {}
        if "propfind_depth_infinity" in raw:
            settings.webdav.propfind_depth_infinity = _as_bool(
                raw["propfind_depth_infinity"], f"{source}webdav.propfind_depth_infinity"
            )
    elif key == "propfind_depth_infinity":
        settings.webdav.propfind_depth_infinity = _as_bool(
            value, f"{source}webdav.propfind_depth_infinity"
        )
    elif key == "users_file":
        settings.users_file = _resolve(value, base) if value else None
    elif key == "failed_login_delay_max":
        try:
            settings.failed_login_delay_max = max(0.0, min(60.0, float(value)))
        except (TypeError, ValueError):
            raise ConfigError(f"{source}failed_login_delay_max must be seconds.") from None
    elif key == "token_ttl":
        settings.token_ttl = _as_int(value, f"{source}token_ttl", 60, 366 * 86400)
    elif key == "workers":
        _workers_from_yaml(value, settings.workers, source)
    elif key == "worker_threads":
        settings.workers.threads = _as_int(value, f"{source}workers.threads", 0, 64)
    elif key == "index":
        _index_from_yaml(value, settings.index, source, base)
    elif key == "index_watch":
        settings.index.watch = _as_bool(value, f"{source}index.watch")
    elif key == "reconcile_interval":
        settings.index.reconcile_interval = _as_int(
            value, f"{source}index.reconcile_interval", 1, 86400
        )
    elif key == "index_read_timeout":
        settings.index.read_timeout = _as_int(value, f"{source}index.read_timeout", 1, 600)
    elif key == "uploads":
        _uploads_from_yaml(value, settings.uploads, source)
    elif key == "upload_expire":
        settings.uploads.expire_after = _as_int(
            value, f"{source}uploads.expire_after", 1, MAX_UPLOAD_EXPIRE
        )
    elif key == "derived":
        _derived_from_yaml(value, settings.derived, source)
    elif key == "derived_max_bytes":
        settings.derived.max_bytes = parse_size(value, f"{source}derived.max_bytes")
    elif key == "derived_background":
        settings.derived.background = _as_bool(value, f"{source}derived.background")
    elif key == "hashes":
        raw = _options(value, f"{source}hashes", ("sha256",)) or {}
        if "sha256" in raw:
            settings.hashes.sha256 = _as_bool(raw["sha256"], f"{source}hashes.sha256")
    elif key == "assets":
        raw = _options(value, f"{source}assets", ("default_store", "default_project")) or {}
        for option, text in raw.items():
            if not isinstance(text, str):
                raise ConfigError(f"{source}assets.{option} must be a name.")
            setattr(settings.assets, option, text.strip())
    elif key == "downloads":
        raw = _options(value, f"{source}downloads", ("allow_hosts", "timeout", "threads")) or {}
        if "allow_hosts" in raw:
            settings.downloads.allow_hosts = _host_list(raw["allow_hosts"], source)
        if "timeout" in raw:
            settings.downloads.timeout = _as_int(
                raw["timeout"], f"{source}downloads.timeout", 1, 7 * 86400
            )
        if "threads" in raw:
            settings.downloads.threads = _as_int(
                raw["threads"], f"{source}downloads.threads", 0, 64
            )
    elif key in ("llama", "models"):
        raw = _options(value, f"{source}{key}", ("store",)) or {}
        if "store" in raw:
            if not isinstance(raw["store"], str):
                raise ConfigError(f"{source}{key}.store must be a store's name.")
            getattr(settings, key).store = raw["store"].strip()
    elif key == "sartiq":
        raw = _options(value, f"{source}sartiq", ("store", "project")) or {}
        for option, text in raw.items():
            if not isinstance(text, str) or not text.strip():
                raise ConfigError(f"{source}sartiq.{option} must be a name.")
            setattr(settings.sartiq, option, text.strip())
    elif key == "migration":
        raw = _options(value, f"{source}migration", ("allowed_roots",)) or {}
        if "allowed_roots" in raw:
            settings.migration.allowed_roots = _paths(raw["allowed_roots"], base, source)
    elif key == "migration_allowed_roots":
        settings.migration.allowed_roots = _paths(value, base, source)
    elif key == "download_allow_hosts":
        settings.downloads.allow_hosts = _host_list(value, source)
    elif key == "hash_sha256":
        settings.hashes.sha256 = _as_bool(value, f"{source}hashes.sha256")
    elif key == "cluster":
        raw = _options(value, f"{source}cluster", ("redis_url", "node_name")) or {}
        for option, text in raw.items():
            setattr(settings.cluster, option, _cluster_text(text, f"{source}cluster.{option}"))
    elif key in ("redis_url", "node_name"):
        setattr(settings.cluster, key, _cluster_text(value, f"{source}cluster.{key}"))
    elif key == "index_path":
        settings.index.path = _resolve(str(value), base) if value else None
    else:
        raise ConfigError(f"Unknown setting {source}{key!r}.")


def load_settings(
    config_file: str | None = None,
    overrides: Mapping[str, Any] | None = None,
    environ: Mapping[str, str] | None = None,
) -> Settings:
    """Defaults < YAML file < environment < command-line `overrides` (None = not given)."""
    environ = os.environ if environ is None else environ
    cwd = Path.cwd()
    settings = Settings()
    path_text = config_file or environ.get("ASSETDAV_CONFIG")
    path = Path(path_text) if path_text else (DEFAULT_CONFIG if DEFAULT_CONFIG.exists() else None)
    if path is not None:
        path = path.resolve()
        if not path.is_file():
            raise ConfigError(f"The config file {path} does not exist.")
        try:
            raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except yaml.YAMLError as exc:
            raise ConfigError(f"The config file {path} is not valid YAML: {exc}") from None
        if not isinstance(raw, Mapping):
            raise ConfigError(f"The config file {path} must hold a mapping of settings.")
        base = path.parent
        settings.config_file = path
        settings.state_dir = _resolve("var/state", cwd)
        for key, value in raw.items():
            if key == "stores":
                settings.stores = _stores_from_yaml(value, base)
            else:
                _apply(settings, str(key), value, base, "")
    else:
        settings.state_dir = _resolve("var/state", cwd)
        settings.stores = {
            "demo": StoreSettings("demo", _resolve("var/stores/demo", cwd), seed_demo=True)
        }
    for var, key in ENV_VARS.items():
        if var in environ:
            if key == "stores":
                specs = [s for s in environ[var].split(";") if s.strip()]
                settings.stores = parse_store_specs(specs, cwd)
            else:
                _apply(settings, key, environ[var], cwd, f"{var} -> ")
    for key, value in (overrides or {}).items():
        if value is None:
            continue
        if key == "stores":
            settings.stores = parse_store_specs(list(value), cwd)
        else:
            _apply(settings, key, value, cwd, "--")
    return settings


def check_threads(settings: Settings) -> None:
    """The pool must be able to outgrow what one client address may hold."""
    if settings.max_threads < settings.threads:
        raise ConfigError(
            f"max_threads ({settings.max_threads}) is below threads ({settings.threads}); "
            "raise max_threads."
        )


RESERVED_STORE_NAMES = {
    "api": "the JSON API",
    "ui": "the asset browser",
    "compat": "where other systems' APIs are answered",
}


def require_stores(settings: Settings) -> None:
    if not settings.stores:
        raise ConfigError(
            "No stores are configured; add one under 'stores' or pass --store NAME=PATH."
        )
    for reserved, what in RESERVED_STORE_NAMES.items():
        if reserved in settings.stores:
            raise ConfigError(
                f"A store cannot be named {reserved!r}: /{reserved}/ is {what}; rename it."
            )
    from meta_api import api_route_names  # here: reading a config needs no Flask app

    taken = sorted(api_route_names() & set(settings.stores))
    if taken:
        raise ConfigError(
            f"A store cannot be named {taken[0]!r}: /api/{taken[0]}/ belongs to the JSON API, "
            f"so the store's own API routes (/api/{taken[0]}/...) would not reach it; rename it."
        )
