"""The baseline: plain WsgiDAV (FilesystemProvider, anonymous) on cheroot, until SIGTERM.

Run as `python plain_server.py ROOT PORT`. The server settings (thread count, timeouts)
match those of `davserver.server.serve`, so the two differ only in the WSGI application.
"""

from __future__ import annotations

import signal
import sys
import threading
from pathlib import Path

from cheroot import wsgi
from wsgidav.wsgidav_app import WsgiDAVApp

THREADS = 16  # davserver.config.Settings.threads


def build_app(root: Path) -> WsgiDAVApp:
    return WsgiDAVApp(
        {
            "provider_mapping": {"/": str(root)},
            "simple_dc": {"user_mapping": {"*": True}},
            "property_manager": True,
            "verbose": 1,
            "logging": {"enable": False},
            "http_authenticator": {"domain_controller": None},
        }
    )


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: plain_server.py ROOT PORT", file=sys.stderr)
        return 2
    root, port = Path(argv[0]), int(argv[1])
    server = wsgi.Server(
        ("127.0.0.1", port),
        build_app(root),
        numthreads=THREADS,
        server_name="wsgidav-plain",
        timeout=60,
        shutdown_timeout=5,
    )

    def request_stop(_signum: int, _frame: object) -> None:
        threading.Thread(target=server.stop, name="stopper", daemon=True).start()

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    server.prepare()
    print(f"plain WsgiDAV listening on http://127.0.0.1:{port}/ over {root}", flush=True)
    server.serve()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
