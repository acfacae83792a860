"""Bulk CSV import: rows per second and the server's peak memory for a CSV of N rows whose
sources are local: half content hashes of a file the store holds (linked), half paths
under migration.allowed_roots (hard-linked on the same filesystem, else copied).

    scripts/bench --bulk [--rows 10000] [--out PATH]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import urllib.request
from typing import Any

import blake3
import yaml
from harness import (
    add_output_options,
    elapsed,
    exit_status,
    result_header,
    say,
    scratch_folder,
    write_result,
)
from procmem import MIB, PeakSampler
from servers import REPO, ServerProcess

SIZE = 16 << 10


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=10_000, help="rows of the CSV (10000)")
    add_output_options(parser, "bulk.json")
    return parser.parse_args(argv)


def http(method: str, url: str, data: bytes | None = None, headers: dict | None = None) -> Any:
    request = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    with urllib.request.urlopen(request, timeout=60) as response:  # noqa: S310 - loopback
        return json.loads(response.read() or b"null")


def run(args: argparse.Namespace) -> None:
    with scratch_folder(args.tmp_dir, "bulk-") as workdir:
        store, allowed = workdir / "store", workdir / "import"
        store.mkdir()
        allowed.mkdir()
        paths = args.rows // 2
        for n in range(paths):
            (allowed / f"f{n}.bin").write_bytes(n.to_bytes(4, "big") + os.urandom(SIZE - 4))
        seed = os.urandom(SIZE)
        config = workdir / "assetdav.yaml"
        config.write_text(
            yaml.safe_dump(
                {
                    "stores": {"bench": str(store)},
                    "migration": {"allowed_roots": [str(allowed)]},
                    "derived": {"background": False},
                    "log_level": "WARNING",
                }
            )
        )
        command = [
            sys.executable,
            "-P",
            "-m",
            "davserver",
            "serve",
            "--port",
            "{port}",
            "--state-dir",
            str(workdir / "state"),
        ]
        server = ServerProcess(
            "assetdav",
            "assetdav",
            command,
            store,
            "/bench/",
            workdir / "server.log",
            {"ASSETDAV_CONFIG": str(config)},
        )
        server.start()
        try:
            base = f"http://127.0.0.1:{server.port}/"
            boundary = "bench-boundary"
            body = (
                (
                    f'--{boundary}\r\nContent-Disposition: form-data; name="file"; '
                    f'filename="seed.bin"\r\n\r\n'
                ).encode()
                + seed
                + f"\r\n--{boundary}--\r\n".encode()
            )
            http(
                "POST",
                base + "api/assets",
                body,
                {"Content-Type": f"multipart/form-data; boundary={boundary}"},
            )
            known = "blake3:" + blake3.blake3(seed).hexdigest()
            lines = ["source,project,asset,filename,tags"]
            lines += [f"{allowed}/f{n}.bin,bulk,p{n},,path" for n in range(paths)]
            lines += [f"{known},bulk,h{n},h{n}.bin,hash" for n in range(args.rows - paths)]
            csv_bytes = ("\n".join(lines) + "\n").encode()
            say(f"importing {args.rows} rows")
            with PeakSampler(server.pid) as sampler:
                cpu = server.cpu_seconds()
                started = time.monotonic()
                job = http(
                    "POST",
                    base + "compat/sartiq/bulk-upload/",
                    csv_bytes,
                    {"Content-Type": "text/csv"},
                )
                while (status := http("GET", base + f"compat/sartiq/bulk-upload/{job['id']}"))[
                    "status"
                ] == "running":
                    time.sleep(0.2)
                took = time.monotonic() - started
                cpu = server.cpu_seconds() - cpu
            if status["succeeded"] != args.rows:
                raise RuntimeError(f"the import did not succeed: {status}")
            result = {
                "rows": args.rows,
                "seconds": round(took, 2),
                "rows_per_s": round(args.rows / took, 1),
                "server_cpu_s": round(cpu, 2),
                "peak_rss_MiB": round(sampler.peak / MIB, 1),
                "hwm_rss_MiB": round(server.memory().hwm / MIB, 1),
            }
        finally:
            server.stop()
    print(
        f"{args.rows} rows in {result['seconds']} s: {result['rows_per_s']} rows/s, "
        f"server CPU {result['server_cpu_s']} s, peak RSS {result['peak_rss_MiB']} MiB"
    )
    write_result(
        args.out,
        {
            **result_header("bulk CSV import of local sources"),
            "result": result,
            "elapsed_s": elapsed(),
            "repo": str(REPO),
        },
    )


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    return exit_status(lambda: run(args))


if __name__ == "__main__":
    sys.exit(main())
