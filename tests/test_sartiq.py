"""Sartiq's face at /compat/sartiq/: its presigned upload into the user's upload project,
and export configurations (mine, by id, a user's, an organization's) with their rights."""

from __future__ import annotations

import requests
from users import add_team, add_user, auth

OUTSIDER = ("outsider", "outsider-secret")


def test_presigned_upload_and_export_configurations(make_server):
    server = make_server()
    add_team(server)
    add_user(server, *OUTSIDER, "--read-groups", "elsewhere")
    base = server.url + "compat/sartiq/api/v1/"
    admin, writer, reader = auth("admin"), auth("writer"), auth("reader")
    assert requests.post(server.url + "api/demo/create",
                         json={"id": "uploads", "groups": ["teamA"]}, auth=admin,
                         timeout=10).status_code == 200

    # a presigned upload into a new asset of the upload project
    grant = requests.post(base + "uploads/presigned-url", auth=writer, timeout=10, json={
        "filename": "photo.png", "content_type": "image/png", "size": 5})
    assert grant.status_code == 200, grant.text
    body = grant.json()
    assert body["upload_method"] == "PUT" and body["max_file_size"] == 1 << 40
    assert requests.put(body["upload_url"], data=b"12345", timeout=10).status_code in (200, 201)
    assert requests.get(body["file_url"], timeout=10).content == b"12345"
    landed = list((server.stores["demo"] / "uploads").glob("*_photo.png/1/photo.png"))
    assert len(landed) == 1 and landed[0].read_bytes() == b"12345"
    assert requests.post(base + "uploads/presigned-url", auth=OUTSIDER, timeout=10, json={
        "filename": "x.png", "content_type": "image/png"}).status_code == 403

    # mine: several allowed; "the" one is the first
    me = base + "users/me/export-configuration"
    assert requests.get(me, auth=writer, timeout=10).status_code == 404
    first = requests.post(me, auth=writer, timeout=10, json={
        "name": "Shop", "image_format": "webp", "naming_convention_template":
        "{brand}_{asset}_v{version}.{ext}"})
    assert first.status_code == 201, first.text
    config = first.json()
    assert (config["user_id"], config["organization_id"], config["metadata_adapter"]) == (
        "writer", None, "default")
    second = requests.post(me, auth=writer, json={"name": "Archive", "image_format": "png",
                                                   "metadata_adapter": "ovs"}, timeout=10).json()
    assert [c["name"] for c in requests.get(me + "s", auth=writer, timeout=10).json()] == [
        "Shop", "Archive"]
    assert requests.get(me, auth=writer, timeout=10).json()["id"] == config["id"]
    patched = requests.patch(me, auth=writer, json={"image_format": "jpeg"}, timeout=10).json()
    assert patched["image_format"] == "jpeg" and patched["name"] == "Shop"
    assert patched["updated_at"] >= config["updated_at"]

    # by id: the owner, an administrator; anybody else does not see it
    by_id = base + f"users/export-configurations/{second['id']}"
    assert requests.get(by_id, auth=writer, timeout=10).json()["name"] == "Archive"
    assert requests.get(by_id, auth=admin, timeout=10).status_code == 200
    assert requests.get(by_id, auth=reader, timeout=10).status_code == 404
    assert requests.patch(by_id, auth=OUTSIDER, json={"name": "x"}, timeout=10).status_code == 404

    # a user's: the user and administrators
    user = base + "users/writer/export-configuration"
    assert requests.get(user, auth=admin, timeout=10).json()["id"] == config["id"]
    assert requests.get(user, auth=reader, timeout=10).status_code == 403
    made = requests.post(base + "users/reader/export-configuration", auth=admin,
                         json={"name": "For reader"}, timeout=10)
    assert made.status_code == 201 and made.json()["user_id"] == "reader"
    assert requests.get(me, auth=reader, timeout=10).json()["name"] == "For reader"

    # an organization's (a group): members read, writers change, outsiders are refused
    org = base + "users/organizations/teamA/export-configuration"
    created = requests.post(org, auth=writer, json={"name": "Team"}, timeout=10)
    assert created.status_code == 201 and created.json()["organization_id"] == "teamA"
    assert requests.get(org, auth=reader, timeout=10).json()["name"] == "Team"
    assert [c["name"] for c in requests.get(org + "s", auth=reader, timeout=10).json()] == [
        "Team"]
    assert requests.patch(org, auth=reader, json={"name": "x"}, timeout=10).status_code == 403
    assert requests.post(org, auth=reader, json={}, timeout=10).status_code == 403
    assert requests.get(org, auth=OUTSIDER, timeout=10).status_code == 403
    assert requests.get(org + "s", auth=OUTSIDER, timeout=10).status_code == 403
    org_by_id = base + f"users/export-configurations/{created.json()['id']}"
    assert requests.get(org_by_id, auth=reader, timeout=10).status_code == 200
    assert requests.delete(org_by_id, auth=reader, timeout=10).status_code == 403
    assert requests.patch(org, auth=writer, json={"name": "Team 2"}, timeout=10).json()[
        "name"] == "Team 2"
    # a team's configuration is not the writer's own
    assert [c["name"] for c in requests.get(me + "s", auth=writer, timeout=10).json()] == [
        "Shop", "Archive"]

    # refused input
    for bad in ({"metadata_adapter": "xml"}, {"image_format": "bmp"},
                {"naming_convention_template": "{unclosed"}, {"colour": "red"}):
        answer = requests.post(me, auth=writer, json=bad, timeout=10)
        assert answer.status_code == 400, (bad, answer.text)

    assert requests.delete(me, auth=writer, timeout=10).status_code == 200
    assert requests.get(me, auth=writer, timeout=10).json()["name"] == "Archive"
    assert requests.delete(org, auth=writer, timeout=10).status_code == 200
    assert requests.get(org, auth=reader, timeout=10).status_code == 404

    # the native API: the same records, listed as those one may use
    native = server.url + "api/export-configurations"
    shared = requests.post(native, auth=writer, timeout=10, json={
        "name": "Team native", "organization_id": "teamA", "image_format": "png"})
    assert shared.status_code == 201, shared.text
    assert shared.json()["organization_id"] == "teamA"
    one = f"{native}/{shared.json()['id']}"
    assert [c["name"] for c in requests.get(native, auth=writer, timeout=10).json()] == [
        "Archive", "Team native"]
    assert [c["name"] for c in requests.get(native, auth=reader, timeout=10).json()] == [
        "For reader", "Team native"]
    assert requests.get(native, auth=OUTSIDER, timeout=10).json() == []
    assert requests.get(one, auth=OUTSIDER, timeout=10).status_code == 404
    assert requests.patch(one, auth=reader, json={"name": "x"}, timeout=10).status_code == 403
    assert requests.post(native, auth=writer, json={"name": "x", "organization_id": "elsewhere"},
                         timeout=10).status_code == 403
    assert requests.post(native, auth=writer, json={"naming_convention_template": "{x"},
                         timeout=10).status_code == 400
    renamed = requests.patch(one, auth=writer, json={"name": "Team png"}, timeout=10)
    assert renamed.json()["name"] == "Team png" and renamed.json()["image_format"] == "png"
    # the Sartiq face sees the organization's configuration made natively
    assert requests.get(org, auth=reader, timeout=10).json()["name"] == "Team png"
    # an export with a configuration the caller may not read is refused like a missing one
    refused = requests.post(server.url + "api/exports", auth=OUTSIDER, timeout=10,
                            json={"configuration_id": shared.json()["id"], "filter": {}})
    assert refused.status_code == 404
    assert requests.delete(one, auth=writer, timeout=10).status_code == 200
    assert requests.get(one, auth=writer, timeout=10).status_code == 404
