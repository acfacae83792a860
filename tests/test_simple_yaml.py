"""The fast sidecar reader (stores/simple_yaml.py) must read every text it takes exactly as
PyYAML's sidecar loader does (same values, same types), and leave the rest to PyYAML."""

from __future__ import annotations

import random
import string

import pytest
import yaml

from stores.model import new_asset
from stores.sidecar_format import _SidecarLoader, parse_sidecar, render_sidecar
from stores.simple_yaml import load_simple

WORDS = [
    "", " ", "a", "coast", "sunset", "yes", "No", "on", "off", "null", "~", "true", "1", "-1",
    "007", "0o7", "1_000", "1.5", "-2.25", ".5", "1e5", "1.0e5", ".inf", "0x1f", "1:30",
    "2026-12-04", "2026-12-04 20:23:27.514052", "a: b", "a:b", "a #b", "a#b", "#a", "- a",
    "-a", "?a", "[a]", "{a}", "a, b", "it's", 'say "hi"', "back\\slash", "tab\there",
    "new\nline", "cr\rhere", "nel\x85", "sep\u2028", "bom\ufeff", "nul\x00", "é", "Bär",
    "日本語", "emoji 😀", "http://x/y", "/bench/p/a/1/f.txt", "1/f.txt", "a  b", "trail ",
    " lead", "*alias", "&anchor", "!tag", "|", ">", "%", "@", "`", "'", '"', ",", ":",
]  # fmt: skip


def _value(rng: random.Random, depth: int = 0) -> object:
    roll = rng.random()
    if depth < 2 and roll < 0.15:
        return {_word(rng): _value(rng, depth + 1) for _ in range(rng.randint(0, 4))}
    if depth < 2 and roll < 0.3:
        return [_value(rng, depth + 1) for _ in range(rng.randint(0, 4))]
    if roll < 0.4:
        return rng.choice([True, False, None, 0, 7, -3, 1.5, 1795600000.123456, 10**20])
    return _word(rng)


def _word(rng: random.Random) -> str:
    if rng.random() < 0.7:
        return rng.choice(WORDS)
    return "".join(rng.choice(string.printable) for _ in range(rng.randint(1, 12)))


def _sidecar(rng: random.Random) -> dict:
    data: dict = {
        "uuid": "fb59b294-dade-48fd-8640-cf234a114372",
        "name": _word(rng),
        "description": _word(rng),
        "tags": [_word(rng) for _ in range(rng.randint(0, 4))],
        "version": rng.randint(0, 3),
        "history": [
            {"Type": "Created", "Time": "2026-12-04 20:23:27.514052", "Version": 1},
            {"Type": _word(rng), "Note": _value(rng, 2)},
        ],
        "metadata": {_word(rng): _value(rng) for _ in range(rng.randint(0, 5))},
    }
    if rng.random() < 0.5:
        data["files"] = {
            f"1/{_word(rng)}.txt": {"size": 4, "xxh3_128": "77252f090f69ba014a95213ed6c85c14",
                                    "mtime": 1795600000.123456}
        }  # fmt: skip
    return data


def _same(text: str) -> None:
    try:
        expected = yaml.load(text, Loader=_SidecarLoader)  # noqa: S506 - safe loader
    except yaml.YAMLError:
        expected = "error"
    found = load_simple(text)
    if found is not None:
        assert repr(found) == repr(expected), text


@pytest.mark.parametrize("seed", range(4))
def test_rendered_sidecars_read_as_pyyaml_reads_them(seed: int) -> None:
    rng = random.Random(seed)
    for _ in range(500):
        text = render_sidecar(_sidecar(rng)).decode()
        _same(text)
        assert parse_sidecar(text.encode(), "test") == yaml.load(text, Loader=_SidecarLoader)  # noqa: S506


def test_an_asset_sidecar_as_the_server_writes_it_is_read_fast() -> None:
    data = new_asset("Coast at dawn", "trips")
    data.update(tags=["coast", "sunset"], version=2, filename="1/dawn.jpg")
    data["metadata"] = {"camera": "Canon EOS R5", "iso": 100, "gps": {"lat": 43.5, "on": True}}
    data["history"].append({"Type": "Updated", "Time": "2026-12-04 20:23:27.514052"})
    text = render_sidecar(data).decode()
    assert load_simple(text) == yaml.load(text, Loader=_SidecarLoader)  # noqa: S506


@pytest.mark.parametrize(
    "text",
    [
        "a: 1\n",
        "a: 1 # comment\n",
        "# comment\na: 1\n",
        "a: 1\n\nb: 2\n",
        "a:\n  b: 1\n  c:\n  - x\n  - {k: v}\nd: [1, 2]\n",
        "a:\n  - x\n",
        "a:\n- b: 1\n",
        "a:\n- x\n-\n",
        "a: [x, ]\n",
        "a: [x,y]\n",
        "a: {x: 1,y: 2}\n",
        "a: {x:1}\n",
        "a: b\n  c\n",
        "a: |\n  text\n",
        "a: &x 1\nb: *x\n",
        "a: !!str 1\n",
        "---\na: 1\n",
        "a: 1\n...\n",
        "<<: {b: 1}\n",
        "yes: 1\n",
        "1: a\n",
        "a : 1\n",
        "a:\tb\n",
        "a: 'x''y'\n",
        'a: "\\x41\\u00e9\\/"\n',
        'a: "\\ud83d\\ude00"\n',
        "a: b: c\n",
        "a: b:\n",
        "a: [a, [b]]\n",
        "a:\n  b: 1\n c: 2\n",
        "a: 1\r\nb: 2\r\n",
        "a: 2026-12-04\n",
        "a: 0.1\nb: -0\nc: +1\nd: 1.\n",
        "  a: 1\n",
        "a:\nb:\n",
        'a: {"k": [1]}\n',
        "a: {'q': 'x'}\n",
    ],
)
def test_hand_written_yaml_is_read_as_pyyaml_reads_it_or_left_to_it(text: str) -> None:
    _same(text)
