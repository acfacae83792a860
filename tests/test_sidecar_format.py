"""The sidecar reader's fast path for `files` blocks must read exactly what PyYAML reads."""

from __future__ import annotations

import itertools

import pytest
import yaml

from stores.sidecar_format import _SidecarLoader, parse_sidecar, render_sidecar

AWKWARD_NAMES = [
    "plain.bin", "123", "true", "null", "1e5", "with space.txt", "ünïcödé.png", 'quote"d',
    "back\\slash", "a: b", "#hash", "- dash", "0x1F", "~", "yes", "tab\tin", ".hidden",
    "1/2/3.png", " lead", "trail ", "0777", "1_000",
    "line\u2028separator", "nel\x85.txt", "c1\x9b.txt",  # allowed in names, breaks to YAML
]  # fmt: skip
AWKWARD_DIGESTS = ["0" * 32, "1e10" + "a" * 28, "f" * 32, "1" * 32, "abc"]


def pyyaml(raw: bytes) -> dict:
    return yaml.load(raw.decode(), Loader=_SidecarLoader)  # noqa: S506 - safe loader


@pytest.mark.parametrize("first", [True, False])
def test_rendered_files_read_back_as_pyyaml_reads_them(first):
    digests = itertools.cycle(AWKWARD_DIGESTS)
    files = {
        name: {"size": size, "xxh3_128": next(digests), "mtime": mtime}
        for name, size, mtime in zip(
            AWKWARD_NAMES,
            itertools.cycle([0, 1, 4096, 10**12]),
            itertools.cycle([0.0, 1.5, 1795668898.414778, -3.25]),
            strict=False,
        )
    }
    rest = {"id": "a", "history": [{"Type": "Created", "Time": "2026-11-26 10:00:00"}]}
    data = {"files": files, **rest} if first else {**rest, "files": files, "tags": ["x"]}
    raw = render_sidecar(data)
    parsed = parse_sidecar(raw, "test")
    assert parsed == pyyaml(raw) == data
    assert list(parsed) == list(data)


@pytest.mark.parametrize(
    "text",
    [
        "id: a\nfiles:\n  a.bin: {size: 1, xxh3_128: ab, mtime: 1.000000}\n\n  b.bin: {size: 2, "
        "xxh3_128: cd, mtime: 2.000000}\n",  # a blank line inside the block
        "id: a\nfiles:\n  a.bin: {size: 1, xxh3_128: ab, mtime: 1.000000}\n# note\n"
        "  b.bin: {size: 2, xxh3_128: cd, mtime: 2.000000}\n",  # a comment inside it
        "files:\n  a.bin: {size: 1, xxh3_128: ab, mtime: 1.000000, extra: 1}\nid: a\n",
        "files:\n  010: {size: 010, xxh3_128: ab, mtime: 1.000000}\n",  # YAML 1.1 octal
        "files:\nid: a\n",  # an empty block is null
        "files:\n  a.bin: {size: 1, xxh3_128: ab, mtime: 1.000000}\nfiles:\n  b: {size: 2, "
        "xxh3_128: cd, mtime: 2.000000}\n",  # the key twice: the last one wins
    ],
)
def test_hand_written_sidecars_read_as_pyyaml_reads_them(text):
    assert parse_sidecar(text.encode(), "test") == pyyaml(text.encode())
