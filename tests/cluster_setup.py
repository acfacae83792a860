"""What the cluster test and the cluster benchmark share: a redis-server of their own on a
loopback port (AOF on, fsync every second, in a temporary folder), and an nginx config
that balances round-robin over the nodes the way the README's recipe does; and, for tests
of other modules, their server run as a one-node cluster."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from pathlib import Path
from typing import Any

REDIS = shutil.which("redis-server")
NGINX = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class RedisServer:
    """redis-server on a loopback port, its data (AOF, fsync every second) in `folder`."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.port = free_port()
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> RedisServer:
        self.folder.mkdir(parents=True, exist_ok=True)
        self.proc = subprocess.Popen(
            [
                REDIS,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--dir",
                str(self.folder),
                "--appendonly",
                "yes",
                "--appendfsync",
                "everysec",
                "--save",
                "",
                "--daemonize",
                "no",
                "--logfile",
                str(self.folder / "redis.log"),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        import redis

        client = redis.Redis.from_url(self.url)
        deadline = time.monotonic() + 10
        while True:
            try:
                client.ping()
                return self
            except redis.ConnectionError:
                assert time.monotonic() < deadline, "redis-server did not start"
                time.sleep(0.05)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=10)


def one_node_cluster_if_asked(request: Any, folder: Path, settings: dict) -> RedisServer | None:
    """For a fixture whose indirect parameter is "single" (the default) or "redis": with
    "redis", a redis-server of its own in `folder`, and `settings` (the server's config)
    made a one-node cluster over it. End it with `end_one_node_cluster`."""
    if getattr(request, "param", "single") != "redis":
        return None
    if REDIS is None:
        import pytest

        pytest.skip("redis-server is not installed")
    redis_server = RedisServer(folder).start()
    settings["cluster"] = {"redis_url": redis_server.url, "node_name": "solo"}
    return redis_server


def end_one_node_cluster(redis_server: RedisServer | None, state_dir: Path, *kept: str) -> None:
    """Stop its Redis; what a cluster keeps in Redis left no SQLite file in `state_dir`."""
    if redis_server is None:
        return
    redis_server.stop()
    written = [name for name in kept if (state_dir / name).exists()]
    assert not written, f"a one-node cluster wrote {written}: that belongs in Redis"


NGINX_CONF = """
worker_processes 1;
error_log {base}/nginx-error.log;
pid {base}/nginx.pid;
events {{ worker_connections 256; }}
http {{
    access_log off;
    client_body_temp_path {base}/nginx-body;
    proxy_temp_path {base}/nginx-proxy;
    fastcgi_temp_path {base}/nginx-fastcgi;
    uwsgi_temp_path {base}/nginx-uwsgi;
    scgi_temp_path {base}/nginx-scgi;
    upstream assetdav {{ {servers} }}
    server {{
        listen 127.0.0.1:{port};
        client_max_body_size 0;
        proxy_request_buffering off;
        proxy_buffering off;
        proxy_http_version 1.1;
        location / {{
            proxy_pass http://assetdav;
            proxy_set_header Host $http_host;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_set_header X-Forwarded-Proto $scheme;
            proxy_set_header X-Forwarded-Host $http_host;
            proxy_set_header Connection "";
        }}
    }}
}}
"""


def start_nginx(base: Path, ports: list[int]) -> tuple[subprocess.Popen, int]:
    """nginx round-robin over the nodes at `ports`, its files in `base`; (process, port)."""
    import requests

    assert NGINX is not None, "nginx is not installed"
    port = free_port()
    conf = base / "nginx.conf"
    conf.write_text(
        NGINX_CONF.format(
            base=base,
            port=port,
            servers=" ".join(f"server 127.0.0.1:{p} max_fails=0;" for p in ports),
        )
    )
    proc = subprocess.Popen(
        [NGINX, "-c", str(conf), "-g", "daemon off;"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 10
    while True:
        try:
            requests.get(f"http://127.0.0.1:{port}/api/list", timeout=1)
            return proc, port
        except requests.ConnectionError:
            assert time.monotonic() < deadline, (base / "nginx-error.log").read_text()
            time.sleep(0.05)
