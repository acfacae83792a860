"""The `assetdav` command: serve the stores, or check them."""

from __future__ import annotations

import argparse
import logging
import sys

from index.rebuild import RebuildFailed, rebuild
from index.service import reindex_stores
from stores.check import check_store

from .app import build_media, build_registry, build_users
from .config import ConfigError, Settings, load_settings, require_stores
from .error_mask import ClientErrorFilter
from .progress import ProgressBar
from .server import RefusedToStart, serve
from .user_cli import add_user_commands, run_user_command


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", help="YAML config file (default: conf/assetdav.yaml)")
    parser.add_argument(
        "--store",
        action="append",
        metavar="NAME=PATH",
        dest="stores",
        help="serve this store; may repeat; replaces the configured stores",
    )
    parser.add_argument(
        "--state-dir",
        dest="state_dir",
        help="folder for locks, properties, index and other server state",
    )
    parser.add_argument(
        "--log-level", dest="log_level", choices=["DEBUG", "INFO", "WARNING", "ERROR"]
    )
    parser.add_argument(
        "--index-path",
        dest="index_path",
        help="the search index's folder (default <state-dir>/index; a node's own in a cluster)",
    )
    parser.add_argument(
        "--sha256",
        action="store_const",
        const=True,
        dest="hash_sha256",
        help="record every file's sha256 too (hashes.sha256)",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="assetdav", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    serve_cmd = commands.add_parser("serve", help="serve the stores over WebDAV and /api")
    _common(serve_cmd)
    serve_cmd.add_argument("--host", help="address to bind (default 127.0.0.1)")
    serve_cmd.add_argument("--port", type=int, help="port to bind (default 8080; 0 = any)")
    serve_cmd.add_argument(
        "--allow-anonymous",
        action="store_const",
        const=True,
        dest="allow_anonymous",
        help="allow serving without users on a non-loopback address",
    )
    serve_cmd.add_argument(
        "--redis-url",
        dest="redis_url",
        help="join a cluster of nodes over one shared tree (cluster.redis_url)",
    )
    serve_cmd.add_argument(
        "--node-name", dest="node_name", help="this node's name in a cluster (cluster.node_name)"
    )

    check_cmd = commands.add_parser("check", help="compare sidecars with the files on disk")
    _common(check_cmd)
    check_cmd.add_argument(
        "--quick", action="store_true", help="hash only files whose size or mtime changed"
    )
    reindex_cmd = commands.add_parser("reindex", help="rebuild the search index from the tree")
    _common(reindex_cmd)
    reindex_cmd.add_argument(
        "--processes",
        type=int,
        default=0,
        help="indexing processes for a full rebuild (default: one per CPU)",
    )

    derive_cmd = commands.add_parser(
        "derive", help="make the missing low and medium previews of the stores"
    )
    _common(derive_cmd)

    add_user_commands(commands, _common)
    return parser


def _settings(args: argparse.Namespace) -> Settings:
    keys = (
        "host",
        "port",
        "state_dir",
        "allow_anonymous",
        "log_level",
        "stores",
        "hash_sha256",
        "redis_url",
        "node_name",
        "index_path",
    )
    overrides = {key: getattr(args, key, None) for key in keys}
    return load_settings(args.config, overrides)


def _setup_logging(level: str) -> None:
    logging.basicConfig(
        level=getattr(logging, level), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    wsgidav_log = logging.getLogger("wsgidav")
    wsgidav_log.setLevel(logging.WARNING)
    wsgidav_log.addFilter(ClientErrorFilter())


def run_check(settings: Settings, quick: bool) -> int:
    registry = build_registry(settings)
    problems = 0
    for store in registry:
        if not store.root.is_dir():
            print(f"store {store.name}: folder {store.root} does not exist", file=sys.stderr)
            problems += 1
            continue
        bar = ProgressBar(f"checking {store.name}")
        for problem in check_store(store, quick=quick, progress=bar):
            problems += 1
            print(problem)
    if problems:
        print(
            f"{problems} problem(s) found. Files written behind the server's back are "
            "recorded on the next write to their asset.",
            file=sys.stderr,
        )
        return 1
    print("all sidecars agree with the files on disk", file=sys.stderr)
    return 0


def run_reindex(settings: Settings, only: list[str] | None, processes: int = 0) -> int:
    """A fresh index from the tree; with --store, only those stores are redone in place."""
    registry = build_registry(settings)
    path = settings.index.folder(settings.state_dir)
    bar = ProgressBar("indexing")
    count = (
        reindex_stores(path, registry, bar)
        if only
        else rebuild(path, registry, bar, processes=processes)
    )
    print(f"indexed {count} documents into {path}", file=sys.stderr)
    return 0


def run_derive(settings: Settings) -> int:
    """Previews of a tree copied in (or of a deleted cache), with a progress bar."""
    from meta_api.media.derive_all import derive_all  # Pillow and friends: only here

    media = build_media(settings)
    try:
        done = derive_all(build_registry(settings), media, ProgressBar("previews"))
    finally:
        media.close()
    print(
        f"{done.files} images, videos and PDFs; {done.made} previews made in {media.cache.root}",
        file=sys.stderr,
    )
    return 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = _settings(args)
        _setup_logging(settings.log_level)
        if args.command == "serve":
            require_stores(settings)
            return serve(settings)
        if args.command == "check":
            require_stores(settings)
            return run_check(settings, args.quick)
        if args.command == "reindex":
            require_stores(settings)
            return run_reindex(settings, only=args.stores, processes=args.processes)
        if args.command == "derive":
            require_stores(settings)
            return run_derive(settings)
        if args.command == "user":
            return run_user_command(args, build_users(settings))
    except (ConfigError, RefusedToStart) as exc:
        print(f"assetdav: {exc}", file=sys.stderr)
        return 2
    except RebuildFailed as exc:
        print(f"assetdav: {exc}", file=sys.stderr)
        return 1
    return 2


if __name__ == "__main__":
    sys.exit(main())
