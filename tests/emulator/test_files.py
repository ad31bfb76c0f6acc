"""Salesforce Files in the emulator: ContentVersion / ContentDocument / ContentDocumentLink rules,
the JSON and multipart upload shapes, VersionData read back, links and their picklists."""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any

import httpx
import pytest


def q(api: httpx.Client, soql: str) -> list[dict[str, Any]]:
    response = api.get("/query", params={"q": soql})  # the ids are the emulator's own
    assert response.status_code == 200, response.text
    records: list[dict[str, Any]] = response.json()["records"]
    return records


def account(api: httpx.Client) -> str:
    return str(api.post("/sobjects/Account", json={"Name": "Files Inc"}).json()["id"])


def multipart(entity: dict[str, Any], data: bytes, boundary: str = "b0undary") -> tuple[bytes, str]:
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="entity_content";\r\n'
            "Content-Type: application/json\r\n\r\n"
            f"{json.dumps(entity)}\r\n"
            f"--{boundary}\r\nContent-Type: application/octet-stream\r\n"
            'Content-Disposition: form-data; name="VersionData"; '
            f'filename="{entity.get("PathOnClient")}"\r\n\r\n'
        ).encode()
        + data
        + f"\r\n--{boundary}--\r\n".encode()
    )
    return body, f'multipart/form-data; boundary="{boundary}"'


def test_a_version_published_to_a_record_creates_the_document_and_its_links(api: httpx.Client) -> None:
    acct = account(api)
    data = b"%PDF-1.4 quarterly report"
    created = api.post(
        "/sobjects/ContentVersion",
        json={
            "Title": "Q1 report",
            "PathOnClient": "q1.pdf",
            "VersionData": base64.b64encode(data).decode(),
            "FirstPublishLocationId": acct,
        },
    )
    assert created.status_code == 201, created.text
    vid = created.json()["id"]
    assert vid.startswith("068")
    version = api.get(f"/sobjects/ContentVersion/{vid}").json()
    assert version["VersionNumber"] == "1"
    assert version["IsLatest"] is True
    assert version["FileType"] == "PDF"
    assert version["FileExtension"] == "pdf"
    assert version["ContentSize"] == len(data)
    assert version["Checksum"] == hashlib.md5(data).hexdigest()  # noqa: S324 - Salesforce's checksum
    assert version["VersionData"].endswith(f"/sobjects/ContentVersion/{vid}/VersionData")
    doc = api.get(f"/sobjects/ContentDocument/{version['ContentDocumentId']}").json()
    assert doc["LatestPublishedVersionId"] == vid
    assert doc["Title"] == "Q1 report"
    links = q(
        api,
        "SELECT LinkedEntityId, ShareType, Visibility, ContentDocument.Title FROM ContentDocumentLink "  # noqa: S608
        f"WHERE ContentDocumentId = '{doc['Id']}'",
    )
    by_entity = {link["LinkedEntityId"]: link for link in links}
    assert by_entity[acct]["ShareType"] == "V"
    assert by_entity[acct]["ContentDocument"]["Title"] == "Q1 report"
    assert len(links) == 2  # the owner's link (I) and the record's
    assert api.get(f"/sobjects/ContentVersion/{vid}/VersionData").content == data


def test_a_new_version_bumps_the_number_and_the_latest(api: httpx.Client) -> None:
    acct = account(api)
    first = api.post(
        "/sobjects/ContentVersion",
        json={
            "PathOnClient": "a.txt",
            "VersionData": base64.b64encode(b"one").decode(),
            "FirstPublishLocationId": acct,
        },
    ).json()["id"]
    doc_id = api.get(f"/sobjects/ContentVersion/{first}").json()["ContentDocumentId"]
    both = api.post(
        "/sobjects/ContentVersion",
        json={
            "PathOnClient": "a.txt",
            "VersionData": base64.b64encode(b"two").decode(),
            "ContentDocumentId": doc_id,
            "FirstPublishLocationId": acct,
        },
    )
    assert both.status_code == 400
    assert both.json()[0]["fields"] == ["FirstPublishLocationId"]
    second = api.post(
        "/sobjects/ContentVersion",
        json={
            "PathOnClient": "a2.txt",
            "VersionData": base64.b64encode(b"two!").decode(),
            "ContentDocumentId": doc_id,
        },
    ).json()["id"]
    assert api.get(f"/sobjects/ContentVersion/{second}").json()["VersionNumber"] == "2"
    assert api.get(f"/sobjects/ContentVersion/{first}").json()["IsLatest"] is False
    doc = api.get(f"/sobjects/ContentDocument/{doc_id}").json()
    assert doc["LatestPublishedVersionId"] == second
    assert doc["ContentSize"] == 4
    # Still one link to the record: a version is not a new share.
    links = q(api, f"SELECT Id FROM ContentDocumentLink WHERE LinkedEntityId = '{acct}'")  # noqa: S608
    assert len(links) == 1


def test_multipart_upload_and_streamed_read_back(api: httpx.Client) -> None:
    acct = account(api)
    data = bytes(range(256)) * 4096 + b"\r\n--b0undary-not-the-end\r\n"  # 1 MiB and a boundary look-alike
    body, content_type = multipart({"PathOnClient": "blob.bin", "FirstPublishLocationId": acct}, data)
    created = api.post("/sobjects/ContentVersion", content=body, headers={"Content-Type": content_type})
    assert created.status_code == 201, created.text
    vid = created.json()["id"]
    got = api.get(f"/sobjects/ContentVersion/{vid}/VersionData")
    assert got.status_code == 200
    assert got.content == data
    assert api.get(f"/sobjects/ContentVersion/{vid}").json()["ContentSize"] == len(data)


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (b"not multipart at all", "INVALID_MULTIPART_REQUEST"),
        (
            multipart({"PathOnClient": "x.bin"}, b"x")[0].replace(b"VersionData", b"Body"),
            "INVALID_MULTIPART_REQUEST",
        ),
        (multipart({"Title": "no path"}, b"x")[0], "REQUIRED_FIELD_MISSING"),
    ],
)
def test_bad_multipart_uploads_are_refused(api: httpx.Client, body: bytes, code: str) -> None:
    response = api.post(
        "/sobjects/ContentVersion",
        content=body,
        headers={"Content-Type": 'multipart/form-data; boundary="b0undary"'},
    )
    assert response.status_code == 400, response.text
    assert response.json()[0]["errorCode"] == code


def test_version_without_a_body_and_documents_cannot_be_inserted(api: httpx.Client) -> None:
    missing = api.post("/sobjects/ContentVersion", json={"PathOnClient": "a.txt"})
    assert missing.json()[0]["errorCode"] == "REQUIRED_FIELD_MISSING"
    direct = api.post("/sobjects/ContentDocument", json={"Title": "x"})
    assert direct.json()[0]["errorCode"] == "INVALID_TYPE"


def test_links_share_types_visibility_and_duplicates(api: httpx.Client) -> None:
    acct, other = account(api), account(api)
    vid = api.post(
        "/sobjects/ContentVersion",
        json={
            "PathOnClient": "a.txt",
            "VersionData": base64.b64encode(b"x").decode(),
            "FirstPublishLocationId": acct,
        },
    ).json()["id"]
    doc_id = api.get(f"/sobjects/ContentVersion/{vid}").json()["ContentDocumentId"]
    bad = api.post(
        "/sobjects/ContentDocumentLink",
        json={"ContentDocumentId": doc_id, "LinkedEntityId": other, "ShareType": "Viewer"},
    )
    assert bad.json()[0]["errorCode"] == "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST"
    ok = api.post(
        "/sobjects/ContentDocumentLink",
        json={
            "ContentDocumentId": doc_id,
            "LinkedEntityId": other,
            "ShareType": "C",
            "Visibility": "InternalUsers",
        },
    )
    assert ok.status_code == 201, ok.text
    again = api.post(
        "/sobjects/ContentDocumentLink", json={"ContentDocumentId": doc_id, "LinkedEntityId": other}
    )
    assert again.json()[0]["errorCode"] == "DUPLICATE_VALUE"
    # Deleting the document removes its versions and links.
    assert api.delete(f"/sobjects/ContentDocument/{doc_id}").status_code == 204
    left = q(api, f"SELECT Id FROM ContentDocumentLink WHERE LinkedEntityId = '{other}'")  # noqa: S608
    assert left == []
    assert api.get(f"/sobjects/ContentVersion/{vid}").status_code == 404


def test_content_document_link_queries_need_a_document_or_entity_filter(api: httpx.Client) -> None:
    """Salesforce's implementation restriction: no unfiltered scan of every link."""
    bare = api.get("/query", params={"q": "SELECT Id FROM ContentDocumentLink"})
    assert bare.status_code == 400
    assert bare.json()[0]["errorCode"] == "MALFORMED_QUERY"
    either = "SELECT Id FROM ContentDocumentLink WHERE LinkedEntityId = 'x' OR ShareType = 'V'"
    assert api.get("/query", params={"q": either}).status_code == 400
    acct = account(api)
    both = f"SELECT Id FROM ContentDocumentLink WHERE ShareType = 'V' AND LinkedEntityId IN ('{acct}')"  # noqa: S608
    assert api.get("/query", params={"q": both}).status_code == 200
