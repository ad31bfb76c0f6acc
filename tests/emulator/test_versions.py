"""API versions: the emulator serves the versions of its own versions.json and renders every URL of an
answer with the version of the request (records, nextRecordsUrl, composite results), whatever the org's
configured version; it imports nothing of the connector and its modules import each other one way."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sfemulator.versions import DEFAULT_API_VERSION, SERVED_VERSIONS

from tests.fixtures.emulator import EmulatorHandle

EMULATOR_ROOT = Path(__file__).resolve().parents[2] / "emulator" / "sfemulator"


@pytest.fixture
def session(sf_emulator: EmulatorHandle) -> Iterator[httpx.Client]:
    """An authenticated client on the instance root (the tests pick the version in each path)."""
    token = sf_emulator.access_token()
    with httpx.Client(base_url=sf_emulator.base_url, headers={"Authorization": f"Bearer {token}"}) as c:
        yield c


def _urls(obj: Any) -> list[str]:
    """Every URL-like string in an answer."""
    if isinstance(obj, str):
        return [obj] if obj.startswith("/services/data/") else []
    if isinstance(obj, dict):
        return [u for v in obj.values() for u in _urls(v)]
    if isinstance(obj, list):
        return [u for v in obj for u in _urls(v)]
    return []


@pytest.mark.parametrize("version", ["v59.0", "v62.0", "v66.0"])
def test_query_records_and_next_page_carry_the_request_version(
    session: httpx.Client, sf_emulator: EmulatorHandle, version: str
) -> None:
    sf_emulator.configure(min_query_batch_size=10)
    q = "SELECT Id, Name, Account.Name, Account.Owner.Name FROM Contact ORDER BY Id"
    page = session.get(
        f"/services/data/{version}/query", params={"q": q}, headers={"Sforce-Query-Options": "batchSize=25"}
    ).json()
    assert page["done"] is False
    assert page["nextRecordsUrl"].startswith(f"/services/data/{version}/query/0r8")
    first = page["records"][0]
    assert first["attributes"]["url"] == f"/services/data/{version}/sobjects/Contact/{first['Id']}"
    assert first["Account"]["attributes"]["url"].startswith(f"/services/data/{version}/sobjects/Account/")
    assert first["Account"]["Owner"]["attributes"]["url"].startswith(
        f"/services/data/{version}/sobjects/User/"
    )
    urls = _urls(page)
    assert urls
    assert all(u.startswith(f"/services/data/{version}/") for u in urls)
    rest = session.get(page["nextRecordsUrl"], headers={"Sforce-Query-Options": "batchSize=25"}).json()
    assert rest["records"][0]["attributes"]["url"].startswith(f"/services/data/{version}/sobjects/Contact/")


def test_a_next_page_requested_under_another_version_carries_that_version(
    session: httpx.Client, sf_emulator: EmulatorHandle
) -> None:
    sf_emulator.configure(min_query_batch_size=10)
    page = session.get(
        "/services/data/v59.0/query",
        params={"q": "SELECT Id FROM Account ORDER BY Id"},
        headers={"Sforce-Query-Options": "batchSize=10"},
    ).json()
    locator = page["nextRecordsUrl"].rsplit("/", 1)[1]
    later = session.get(
        f"/services/data/v62.0/query/{locator}", headers={"Sforce-Query-Options": "batchSize=10"}
    )
    body = later.json()
    assert later.status_code == 200
    assert body["nextRecordsUrl"].startswith("/services/data/v62.0/query/")
    assert all(u.startswith("/services/data/v62.0/") for u in _urls(body["records"]))


@pytest.mark.parametrize("version", ["v60.0", "v59.0"])
def test_an_org_with_another_configured_version_answers_with_the_request_version(
    sf_emulator_factory: Any, version: str
) -> None:
    # The org's own version (v60.0) is neither the emulator's default nor, for v59.0, the request's.
    org = sf_emulator_factory(org_id="00DHs00000Vers1", api_version="v60.0")
    assert org.api_version == "v60.0"
    with httpx.Client(
        base_url=f"{org.base_url}/services/data/{version}",
        headers={"Authorization": f"Bearer {org.access_token()}"},
    ) as api:
        rows = api.get("/query", params={"q": "SELECT Id, Body, Parent.Name FROM Attachment LIMIT 3"}).json()
        assert rows["totalSize"] == 3
        urls = _urls(rows)
        # Record URLs, the parent's and the stored Body URL all follow the request.
        assert len(urls) >= 6
        assert all(u.startswith(f"/services/data/{version}/") for u in urls), urls
        rid = rows["records"][0]["Id"]
        assert api.get(f"/sobjects/Attachment/{rid}").json()["Body"].startswith(f"/services/data/{version}/")


def test_composite_subrequests_render_with_their_own_versions(session: httpx.Client) -> None:
    q = "q=SELECT+Id+FROM+Lead+LIMIT+2"
    body = {
        "compositeRequest": [
            {"method": "GET", "url": f"/services/data/v59.0/query?{q}", "referenceId": "a"},
            {"method": "GET", "url": f"/services/data/v62.0/queryAll?{q}", "referenceId": "b"},
            {"method": "POST", "url": "/services/data/v61.0/sobjects/Lead", "referenceId": "c",
             "body": {"LastName": "Versioned", "Company": "V Inc"}},
            {"method": "GET", "url": "/services/data/v60.0/sobjects/Lead/@{c.id}", "referenceId": "d"},
        ]
    }  # fmt: skip
    answer = session.post("/services/data/v62.0/composite", json=body).json()["compositeResponse"]
    by_ref = {r["referenceId"]: r for r in answer}
    assert all(u.startswith("/services/data/v59.0/") for u in _urls(by_ref["a"]["body"]))
    assert all(u.startswith("/services/data/v62.0/") for u in _urls(by_ref["b"]["body"]))
    assert by_ref["c"]["httpHeaders"]["Location"].startswith("/services/data/v61.0/sobjects/Lead/")
    assert by_ref["d"]["body"]["attributes"]["url"].startswith("/services/data/v60.0/sobjects/Lead/")


@pytest.mark.parametrize("version", ["v20.0", "v99.0", "v30.0"])
def test_a_version_the_emulator_does_not_serve_is_not_found(
    session: httpx.Client, sf_emulator: EmulatorHandle, version: str
) -> None:
    assert version not in SERVED_VERSIONS
    before = sf_emulator.api_calls()
    direct = session.get(f"/services/data/{version}/query", params={"q": "SELECT Id FROM Account"})
    assert direct.status_code == 404
    assert direct.json() == [{"errorCode": "NOT_FOUND", "message": "The requested resource does not exist"}]
    sub = session.post(
        "/services/data/v62.0/composite",
        json={
            "compositeRequest": [
                {"method": "GET", "url": f"/services/data/{version}/limits", "referenceId": "x"}
            ]
        },
    ).json()["compositeResponse"][0]
    assert sub["httpStatusCode"] == 404
    assert sub["body"][0]["errorCode"] == "NOT_FOUND"
    assert sf_emulator.api_calls() == before + 2  # both counted, as errors are


def test_the_version_list_is_the_emulators_own(sf_emulator: EmulatorHandle) -> None:
    listed = httpx.get(f"{sf_emulator.base_url}/services/data/").json()
    shipped = json.loads((EMULATOR_ROOT / "metadata" / "versions.json").read_text(encoding="utf-8"))
    assert listed == shipped
    assert {"v" + v["version"] for v in listed} == SERVED_VERSIONS
    assert DEFAULT_API_VERSION in SERVED_VERSIONS
    assert sf_emulator.api_version == DEFAULT_API_VERSION


def test_an_org_cannot_be_configured_with_a_version_it_does_not_serve() -> None:
    from pydantic import ValidationError
    from sfemulator.org import OrgConfig

    with pytest.raises(ValidationError, match=r"api_version v19\.0 is not a served version"):
        OrgConfig(api_version="v19.0")


def test_the_emulator_imports_nothing_of_the_connector() -> None:
    script = (
        "import importlib, pkgutil, sys, sfemulator\n"
        "for m in pkgutil.walk_packages(sfemulator.__path__, 'sfemulator.'):\n"
        "    importlib.import_module(m.name)\n"
        "print(sorted(n for n in sys.modules if n.split('.')[0] == 'sfconnector'))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=60
    )
    assert done.stdout.strip() == "[]"


def _runtime_imports(path: Path) -> set[str]:
    """The sfemulator modules a module imports when it runs (TYPE_CHECKING blocks excluded)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for statement in node.orelse:
                visit(statement)
            return
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("sfemulator"):
            # ``from pkg import submodule`` depends on the submodule (resolved against the modules).
            found.update(f"{node.module}.{a.name}" for a in node.names)
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("sfemulator"))
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return found


def test_the_emulators_modules_import_each_other_one_way() -> None:
    graph: dict[str, set[str]] = {}
    for path in EMULATOR_ROOT.rglob("*.py"):
        rel = path.relative_to(EMULATOR_ROOT.parent).with_suffix("")
        name = ".".join(p for p in rel.parts if p != "__init__")
        graph[name] = _runtime_imports(path)
    for name, deps in graph.items():
        submodules = {dep for dep in deps if dep in graph and dep.rpartition(".")[0] in deps}
        packages = {dep.rpartition(".")[0] for dep in submodules}
        graph[name] = {dep for dep in deps if dep in graph and dep != name and dep not in packages}
    assert {"sfemulator.rest", "sfemulator.composite", "sfemulator.org", "sfemulator.seed"} <= graph.keys()
    cycles = [name for name in graph if name in _closure(graph, name)]
    assert cycles == []


def _closure(graph: dict[str, set[str]], start: str) -> set[str]:
    """Every module reachable from ``start`` through imports."""
    seen: set[str] = set()
    todo = list(graph.get(start, ()))
    while todo:
        current = todo.pop()
        if current in seen:
            continue
        seen.add(current)
        todo.extend(graph.get(current, ()))
    return seen
