"""Previews and conversion through the real server: every source format to every output
format on the file's own URL, sizes and fits, EXIF rotation, transparency, animation,
previews made ahead of time and shared by identical files, the preview API, access,
Sartiq's file URLs, bad inputs, the cache's bound and one conversion for many askers.
"""

from __future__ import annotations

import base64
import html
import io
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator

import media_sources as ms
import pytest
import requests
import xxhash
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image
from users import PASSWORD, add_team, auth

from conftest import REPO, Server
from dav import NS, eventually, mkcol, props_of

OUTPUTS = {
    "webp": "WEBP",
    "jpeg": "JPEG",
    "png": "PNG",
    "avif": "AVIF",
    "gif": "GIF",
}
ADMIN = auth("admin")
LOW, MEDIUM = "256x256-contain-q80.webp", "1024x1024-contain-q80.webp"


@pytest.fixture(scope="module")
def files() -> dict[str, bytes]:
    return ms.sources()


@pytest.fixture(scope="module")
def media_server(tmp_path_factory, files) -> Iterator[Server]:
    """Users admin, writer and reader (teamA); project A (teamA) with asset `all` holding
    one file of every source format and a text file; project B (teamB) with one photo."""
    base = tmp_path_factory.mktemp("previews")
    (base / "demo").mkdir()
    server = Server({"demo": base / "demo"}, base / "state", base / "server.log")
    server.port = 0
    add_team(server)
    server.start()
    store = server.store_url()
    for folder in ("A/", "A/all/", "B/", "B/b1/"):
        assert mkcol(store + folder, auth=ADMIN).status_code == 201
    for name, body in {**files, "notes.txt": b"not an image\n"}.items():
        put(store + "A/all/" + name, body)
    put(store + "B/b1/photo.jpg", files["photo.jpg"])
    for project, group in (("A", "teamA"), ("B", "teamB")):
        answer = requests.post(
            server.url + f"api/demo/{project}/projectAccessMeta",
            json={"groups": [group]},
            auth=ADMIN,
            timeout=10,
        )
        assert answer.status_code == 200, answer.text
    yield server
    server.stop()


def put(url: str, body: bytes, who=ADMIN) -> None:
    answer = requests.put(url, data=body, auth=who, timeout=30)
    assert answer.status_code in (201, 204), (url, answer.status_code, answer.text[:300])


def get(url: str, who=ADMIN, **params) -> requests.Response:
    return requests.get(url, params=params, auth=who, timeout=60)


def image_of(answer: requests.Response) -> Image.Image:
    assert answer.status_code == 200, answer.text[:500]
    image = Image.open(io.BytesIO(answer.content))
    image.load()
    return image


def derived_files(server: Server) -> set[str]:
    root = server.state_dir / "derived"
    return {p.name for p in root.glob("*/*") if p.parent.name != "tmp"}


def previews_of(server: Server, body: bytes) -> dict[str, int]:
    """The derivatives made of `body` (by its content hash): name without the hash ->
    mtime in ns."""
    digest = xxhash.xxh3_128_hexdigest(body)
    return {
        path.name.split("-", 1)[1]: path.stat().st_mtime_ns
        for path in (server.state_dir / "derived" / digest[:2]).glob(digest + "-*")
    }


def has_previews(server: Server, body: bytes) -> dict[str, int]:
    """The low and medium previews of `body` once both are there (else empty: not yet)."""
    made = previews_of(server, body)
    return made if {LOW, MEDIUM} <= set(made) else {}


@pytest.mark.parametrize("output", OUTPUTS)
def test_every_source_converts_to_every_output(media_server, files, output):
    base = media_server.store_url() + "A/all/"
    for name in files:
        answer = get(base + name, type=output, w="160")
        assert answer.headers["Content-Type"] == f"image/{output}", name
        image = image_of(answer)
        assert image.format == OUTPUTS[output], name
        assert 0 < image.width <= 160, (name, image.size)


def test_sizes_fits_and_exif_rotation(media_server):
    url = media_server.store_url() + "A/all/photo.jpg"  # 600×400 stored, shown 400×600
    sizes = {
        (("w", "100"),): (100, 150),
        (("h", "60"),): (40, 60),
        (("w", "100"), ("h", "100")): (67, 100),
        (("w", "100"), ("h", "100"), ("fit", "cover")): (100, 100),
        (("w", "100"), ("h", "50"), ("fit", "fill")): (100, 50),
        (("w", "5000"),): (400, 600),  # never upscaled
        (("w", "5000"), ("h", "5000"), ("fit", "cover")): (400, 400),
    }
    for params, size in sizes.items():
        image = image_of(get(url, type="png", **dict(params)))
        assert image.size == size, (params, image.size)
    shown = image_of(get(url, type="png", w="100")).convert("RGB")
    top, bottom = shown.getpixel((50, 10)), shown.getpixel((50, 140))
    assert top[0] > 200 and top[2] < 60, top  # the stored left half (red) is shown on top
    assert bottom[2] > 200 and bottom[0] < 60, bottom


def test_transparency_kept_or_flattened_on_white(media_server):
    url = media_server.store_url() + "A/all/alpha.png"
    for output in ("webp", "png", "avif"):
        image = image_of(get(url, type=output)).convert("RGBA")
        assert image.getpixel((10, 100))[3] < 10, output  # the transparent half
        assert image.getpixel((290, 100))[3] > 245, output
    flat = image_of(get(url, type="jpeg")).convert("RGB")
    assert all(channel > 240 for channel in flat.getpixel((10, 100)))
    assert flat.getpixel((290, 100))[1] > 120 and flat.getpixel((290, 100))[0] < 60


def test_animation_kept_only_by_formats_that_animate(media_server):
    for source in ("anim.gif", "anim.webp"):
        url = media_server.store_url() + "A/all/" + source
        for output in ("gif", "webp"):
            assert getattr(image_of(get(url, type=output)), "n_frames", 1) == 3, output
        for output in ("png", "jpeg"):
            assert getattr(image_of(get(url, type=output)), "n_frames", 1) == 1, output


def test_video_and_pdf_frames(media_server):
    base = media_server.store_url() + "A/all/"
    for clip in ("clip.mp4", "clip.mov", "clip.webm", "clip.mkv"):
        frame = image_of(get(base + clip, type="png")).convert("RGB")
        assert frame.size == (160, 120), clip
        red = frame.getpixel((80, 60))[0]
        assert 5 < red < 90, (clip, red)  # 10% into a black-to-red fade: not first or last
    page = image_of(get(base + "doc.pdf", type="png", w="300")).convert("RGB")
    assert page.size == (300, 400)
    assert page.getpixel((150, 50))[2] > 200 and page.getpixel((150, 350)) == (255, 255, 255)


def test_no_query_is_the_file_and_conversions_revalidate(media_server, files):
    url = media_server.store_url() + "A/all/photo.jpg"
    assert get(url).content == files["photo.jpg"]
    first = get(url, type="webp", w="64")
    assert first.status_code == 200
    etag = first.headers["ETag"]
    assert "no-cache" in first.headers["Cache-Control"]
    again = requests.get(
        url, params={"w": "64", "type": "webp"}, headers={"If-None-Match": etag}, auth=ADMIN
    )
    assert again.status_code == 304 and again.headers["ETag"] == etag and not again.content
    other = get(url, type="webp", w="65")
    assert other.headers["ETag"] != etag
    head = requests.head(url, params={"type": "webp", "w": "64"}, auth=ADMIN, timeout=10)
    assert head.status_code == 200 and head.headers["ETag"] == etag


def test_bad_parameters_are_400_naming_the_parameter(media_server):
    url = media_server.store_url() + "A/all/photo.jpg"
    cases = [
        ("size", {"size": "10"}),
        ("w", {"w": "0"}),
        ("w", {"w": "¹"}),  # a digit to str.isdigit(), not to int()
        ("h", {"h": "abc"}),
        ("q", {"type": "jpeg", "q": "101"}),
        ("type", {"type": "bmp"}),
        ("fit", {"w": "10", "h": "10", "fit": "stretch"}),
    ]
    for name, params in cases:
        answer = requests.get(url, params=params, auth=ADMIN, timeout=10)
        assert answer.status_code == 400, (params, answer.status_code)
        text = html.unescape(answer.text)
        assert repr(name) in text or f"{name} must" in text, text[:400]


def test_bad_sources_get_clear_4xx(media_server):
    base = media_server.store_url() + "A/bad/"
    assert mkcol(base, auth=ADMIN).status_code == 201
    photo = ms.rotated_jpeg()
    bad = {
        "notes.txt": (b"plain text\n", 415),
        "cut.jpg": (photo[: len(photo) // 2], 422),
        "bomb.png": (ms.huge_png_header(), 413),
        "empty.mp4": (ms.frameless_video(), 422),
        "locked.pdf": (ms.encrypted_pdf(), 422),
        "fake.png": (b"\x89PNG\r\n\x1a\n" + b"\x00" * 64, 422),
    }
    for name, (body, status) in bad.items():
        put(base + name, body)
        answer = get(base + name, type="webp")
        assert answer.status_code == status, (name, answer.status_code, answer.text[:300])
        preview = get(media_server.url + "api/demo/A/preview/bad", file=name)
        assert preview.status_code in (status, 404), (name, preview.status_code)
        assert preview.json()["title"] and preview.json()["description"]
    assert "Traceback" not in media_server.log()


def test_previews_are_made_ahead_and_shared_by_identical_files(media_server, files):
    base = media_server.store_url() + "A/"
    assert mkcol(base + "fresh/", auth=ADMIN).status_code == 201
    body = ms.encoded(ms.halves((900, 700), ms.GREEN, ms.BLUE), "JPEG", quality=90)
    put(base + "fresh/one.jpg", body)
    made = eventually(lambda: has_previews(media_server, body), timeout=2.0)
    assert set(made) == {LOW, MEDIUM}, made
    put(base + "fresh/two.jpg", body)  # the same bytes: the same previews, not made again
    time.sleep(1.0)
    assert previews_of(media_server, body) == made
    preview = get(media_server.url + "api/demo/A/preview/fresh", file="two.jpg")
    assert image_of(preview).size == (256, 199)
    changed = ms.encoded(ms.halves((900, 700), ms.RED, ms.BLUE), "JPEG", quality=90)
    put(base + "fresh/one.jpg", changed)
    assert set(eventually(lambda: has_previews(media_server, changed), timeout=2.0)) == {
        LOW,
        MEDIUM,
    }


def test_preview_api_sizes_versions_and_metadata(media_server):
    api = media_server.url + "api/demo/A/"
    big = ms.encoded(ms.halves((3000, 2000), ms.RED, ms.BLUE), "JPEG", quality=80)
    upload = requests.post(
        api + "upload/shot",
        params={"filename": "shot.jpg", "create": "true"},
        data=big,
        auth=ADMIN,
        timeout=30,
    )
    assert upload.status_code == 200, upload.text
    sizes = {"low": (256, 171), "medium": (1024, 683), "high": (2048, 1365)}
    for quality, size in sizes.items():
        answer = get(api + "preview/shot", quality=quality)
        assert answer.headers["Content-Type"] == "image/webp"
        assert image_of(answer).size == size, quality
    small = requests.post(
        api + "upload/shot",
        params={"filename": "small.png", "update": "true"},
        data=ms.transparent_png(),
        auth=ADMIN,
        timeout=30,
    )
    assert small.status_code == 200, small.text
    assert image_of(get(api + "preview/shot", quality="high")).size == (300, 200)
    assert image_of(get(api + "preview/shot", version="1")).size == (256, 171)
    assert image_of(get(api + "preview/all", file="pic.heic")).size == (256, 192)
    meta = get(api + "meta/shot").json()
    assert meta["preview_url"] == "/api/demo/A/preview/shot"
    assert get(media_server.url.rstrip("/") + meta["preview_url"]).status_code == 200
    props = props_of(media_server.store_url() + "A/shot/", auth=ADMIN)
    assert props[f"{{{NS}}}preview"].text == "/api/demo/A/preview/shot"

    assert mkcol(media_server.store_url() + "A/words/", auth=ADMIN).status_code == 201
    put(media_server.store_url() + "A/words/readme.txt", b"nothing to see\n")
    missing = get(api + "preview/words")
    assert missing.status_code == 404 and set(missing.json()) == {"title", "description"}
    assert get(api + "meta/words").json()["preview_url"] is None
    for params in ({"quality": "huge"}, {"version": "x"}, {"version": "²"}, {"size": "1"}):
        answer = get(api + "preview/shot", **params)
        assert answer.status_code == 400 and answer.json()["description"], params
    assert get(api + "preview/shot", version="7").status_code == 404


def test_access_to_derivatives_is_that_of_the_file(media_server):
    reader = auth("reader")  # reads teamA (project A), not project B
    store = media_server.store_url()
    sartiq = media_server.url + "compat/sartiq/files/demo/"
    assert get(store + "A/all/photo.jpg", reader, type="webp").status_code == 200
    assert get(media_server.url + "api/demo/A/preview/all", reader).status_code == 200
    assert get(sartiq + "A/all/photo.jpg", reader, type="webp").status_code == 200
    for url, params in (
        (store + "B/b1/photo.jpg", {"type": "webp"}),
        (store + "B/b1/photo.jpg", {"type": "webp", "w": "10"}),
        (media_server.url + "api/demo/B/preview/b1", {}),
        (media_server.url + "api/demo/B/preview/b1", {"quality": "medium"}),
        (sartiq + "B/b1/photo.jpg", {"type": "webp"}),
    ):
        answer = get(url, reader, **params)
        assert answer.status_code in (400, 403, 404), (url, answer.status_code)
        assert not answer.content.startswith(b"RIFF")
    anonymous = requests.get(store + "A/all/photo.jpg", params={"type": "webp"}, timeout=10)
    assert anonymous.status_code == 401


def test_sartiq_file_urls(media_server, files):
    sartiq = media_server.url + "compat/sartiq/files/demo/A/all/"
    assert get(sartiq + "photo.jpg").content == files["photo.jpg"]
    assert image_of(get(sartiq + "pic.bmp", type="avif")).format == "AVIF"
    refused = requests.put(sartiq + "new.jpg", data=b"x", auth=ADMIN, timeout=10)
    assert refused.status_code == 405


@pytest.fixture
def small_cache_server(make_server) -> Server:
    """No previews ahead of time, and a cache of 300 KB."""
    return make_server(
        env={"ASSETDAV_DERIVED_MAX_BYTES": "300000", "ASSETDAV_DERIVED_BACKGROUND": "0"}
    )


def test_cache_stays_under_its_bound_and_one_request_makes_it(small_cache_server):
    server = small_cache_server
    base = server.store_url()
    assert mkcol(base + "p/", auth=None).status_code == 201
    assert mkcol(base + "p/a/", auth=None).status_code == 201
    noise = Image.effect_noise((3000, 2000), 60).convert("RGB")  # slow to decode
    put(base + "p/a/noise.png", ms.encoded(noise, "PNG", compress_level=1), who=None)

    answers: list[requests.Response] = []

    def ask() -> None:
        answers.append(requests.get(base + "p/a/noise.png?type=webp&w=600", timeout=60))

    askers = [threading.Thread(target=ask) for _ in range(8)]
    for thread in askers:
        thread.start()
    for thread in askers:
        thread.join()
    assert {a.status_code for a in answers} == {200}
    assert len({a.content for a in answers}) == 1
    assert server.log().count("derived 600x0-contain-q80.webp of noise.png") == 1

    for width in range(300, 1050, 50):  # 6 KB to 210 KB each, 1.5 MB in all
        assert requests.get(base + f"p/a/noise.png?type=webp&w={width}", timeout=60).ok
    root = server.state_dir / "derived"
    total = sum(p.stat().st_size for p in root.glob("*/*") if p.parent.name != "tmp")
    assert 100_000 < total <= 300_000, total
    again = requests.get(base + "p/a/noise.png?type=webp&w=1025", timeout=60)
    assert again.status_code == 200 and image_of(again).width == 1025


def test_files_found_on_disk_or_uploaded_through_the_api_get_previews_ahead(media_server):
    assert mkcol(media_server.store_url() + "A/disk/", auth=ADMIN).status_code == 201
    dropped = ms.encoded(ms.halves((500, 500), ms.BLUE, ms.GREEN), "PNG")
    (media_server.stores["demo"] / "A" / "disk" / "dropped.png").write_bytes(dropped)
    uploaded = ms.encoded(ms.halves((700, 300), ms.RED, ms.GREEN), "WEBP")
    upload = requests.post(
        media_server.url + "api/demo/A/upload/viaapi",
        params={"filename": "up.webp", "create": "true"},
        data=uploaded,
        auth=ADMIN,
        timeout=30,
    )
    assert upload.status_code == 200, upload.text
    for body in (uploaded, dropped):
        assert eventually(lambda body=body: has_previews(media_server, body), timeout=10.0)


def test_derive_makes_the_previews_of_a_tree_copied_in(make_server, tmp_path, files):
    root = tmp_path / "copied"
    (root / "p" / "a" / "sub").mkdir(parents=True)
    (root / "p" / "a" / "photo.jpg").write_bytes(files["photo.jpg"])
    (root / "p" / "a" / "sub" / "doc.pdf").write_bytes(files["doc.pdf"])
    (root / "p" / "a" / "notes.txt").write_bytes(b"no preview\n")
    server = make_server(stores={"demo": root}, start=False)
    env = {k: v for k, v in os.environ.items() if not k.startswith("ASSETDAV_")}
    env["ASSETDAV_CONFIG"] = str(REPO / "tests" / "empty-config.yaml")
    env["ASSETDAV_STORES"] = f"demo={root}"
    command = [sys.executable, "-P", "-m", "davserver", "derive"]
    result = subprocess.run(
        [*command, "--state-dir", str(server.state_dir)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "2 images, videos and PDFs; 4 previews made" in result.stderr, result.stderr
    assert len(derived_files(server)) == 4
    server.start()
    for name in ("photo.jpg", "sub/doc.pdf"):

        def preview(name: str = name) -> requests.Response | None:
            answer = requests.get(
                server.url + "api/demo/p/preview/a", params={"file": name}, timeout=30
            )
            return answer if answer.status_code == 200 else None

        # the server takes the copied files into a sidecar of its own within seconds
        assert image_of(eventually(preview, timeout=15.0)).format == "WEBP", name
    assert "derived 256x256" not in server.log()  # served from what derive made


def test_colour_profiles_are_converted_to_srgb(media_server):
    """Pixels stored as pure red in a profile whose red primary is blue are blue."""
    base = media_server.store_url() + "A/colour/"
    assert mkcol(base, auth=ADMIN).status_code == 201
    profile = ms.swapped_primaries_profile()
    red = Image.new("RGB", (64, 48), ms.RED)
    put(base + "tagged.jpg", ms.encoded(red, "JPEG", quality=95, icc_profile=profile))
    put(base + "tagged.png", ms.encoded(red.convert("RGBA"), "PNG", icc_profile=profile))
    put(base + "plain.png", ms.encoded(red, "PNG"))
    for name in ("tagged.jpg", "tagged.png"):
        for output in ("png", "jpeg", "webp", "avif"):
            pixel = image_of(get(base + name, type=output)).convert("RGB").getpixel((32, 24))
            assert pixel[2] > 190 and pixel[0] < 70, (name, output, pixel)
    untagged = image_of(get(base + "plain.png", type="webp")).convert("RGB").getpixel((32, 24))
    assert untagged[0] > 190 and untagged[2] < 70, untagged


def test_tus_uploads_get_previews_ahead(media_server):
    from tusclient import client as tus_client

    body = ms.encoded(ms.halves((800, 600), ms.GREEN, ms.RED), "JPEG", quality=90)
    token = base64.b64encode(b"admin:" + PASSWORD["admin"].encode()).decode()
    uploader = tus_client.TusClient(
        media_server.url + "api/uploads/", headers={"Authorization": f"Basic {token}"}
    ).uploader(
        file_stream=io.BytesIO(body),
        metadata={
            "store": "demo",
            "project": "A",
            "asset": "bytus",
            "filename": "shot.jpg",
            "create": "true",
        },
    )
    uploader.upload()
    assert eventually(lambda: has_previews(media_server, body), timeout=5.0)


def test_a_conversion_waiting_past_the_timeout_is_503_and_abandoned(make_server, tmp_path):
    config = tmp_path / "slow.yaml"
    config.write_text(
        "log_level: INFO\nstores: {}\n"
        "derived: {concurrency: 1, timeout: 1, background: false}\n"
    )
    server = make_server(env={"ASSETDAV_CONFIG": str(config)})
    base = server.store_url()
    assert mkcol(base + "p/", auth=None).status_code == 201
    assert mkcol(base + "p/a/", auth=None).status_code == 201
    noise = Image.effect_noise((4000, 3000), 60).convert("RGB")  # ~0.3 s to decode
    put(base + "p/a/noise.png", ms.encoded(noise, "PNG", compress_level=1), who=None)
    answers: list[requests.Response] = []

    def ask(width: int) -> None:
        answers.append(requests.get(base + f"p/a/noise.png?type=webp&w={width}", timeout=60))

    askers = [threading.Thread(target=ask, args=(100 + 10 * n,)) for n in range(10)]
    for thread in askers:
        thread.start()
    for thread in askers:
        thread.join()
    statuses = sorted(a.status_code for a in answers)
    assert set(statuses) <= {200, 503} and 503 in statuses, statuses
    busy = next(a for a in answers if a.status_code == 503)
    assert busy.headers.get("Retry-After") and "derived.timeout" in html.unescape(busy.text)
    assert requests.get(base + "p/a/noise.png?type=webp&w=64", timeout=60).status_code == 200
    assert "Traceback" not in server.log()


def test_bad_derived_settings_stop_the_server_with_a_clear_message(tmp_path):
    config = tmp_path / "bad.yaml"
    config.write_text("stores: {}\nderived: {max_pixels: 5}\n")
    (tmp_path / "demo").mkdir()
    result = subprocess.run(
        [sys.executable, "-P", "-m", "davserver", "serve", "--store", f"demo={tmp_path / 'demo'}",
         "--state-dir", str(tmp_path / "state")],
        capture_output=True,
        text=True,
        env={**os.environ, "ASSETDAV_CONFIG": str(config)},
        timeout=60,
    )  # fmt: skip
    assert result.returncode == 2, result.stderr
    assert "derived.max_pixels must be between" in result.stderr
    assert "Traceback" not in result.stderr


KEYS = ["type", "w", "h", "fit", "q", "x", "W", ""]
VALUES = st.one_of(
    st.sampled_from(["webp", "jpeg", "jpg", "png", "avif", "gif", "bmp", "contain", "cover"]),
    st.sampled_from(["fill", "0", "1", "100", "16384", "16385", "-5", "1e3", "08", " 7"]),
    st.text(max_size=12),
)


@settings(
    max_examples=80, deadline=None, database=None, suppress_health_check=list(HealthCheck)
)
@given(query=st.lists(st.tuples(st.sampled_from(KEYS), VALUES), min_size=1, max_size=5))
def test_fuzzed_conversion_parameters_get_an_image_or_a_400(media_server, query):
    answer = requests.get(
        media_server.store_url() + "A/all/pic.bmp", params=query, auth=ADMIN, timeout=60
    )
    assert answer.status_code in (200, 400), (query, answer.status_code, answer.text[:300])
    if answer.status_code == 200:
        assert answer.headers["Content-Type"].startswith("image/")
        image_of(answer)
