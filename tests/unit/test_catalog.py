"""The catalog against the product spec: every trigger and action it lists exists, nothing extra.

The spec page (tests/data/integration-page.txt) lists triggers and actions under family headings,
each heading followed by an "N triggers" / "N actions" line and then title/description pairs.
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import pytest
from devstack.cfn import load_template
from sfconnector import catalog
from sfconnector.catalog import ACTIONS, FAMILIES, TRIGGERS, OperationKind, TriggerKind

SPEC = Path(__file__).resolve().parents[1] / "data" / "integration-page.txt"
TEMPLATE = Path(__file__).resolve().parents[2] / "template.yaml"
FUNCTIONS = Path(__file__).resolve().parents[2] / "functions"

_COUNT = re.compile(r"^(\d+) (triggers?|actions?)$")


def _spec_lists() -> dict[str, dict[str, list[str]]]:
    """{"Triggers": {family heading: [titles]}, "Actions": {...}} parsed from the spec page."""
    lines = [line.strip() for line in SPEC.read_text(encoding="utf-8").splitlines()]
    sections: dict[str, dict[str, list[str]]] = {"Triggers": {}, "Actions": {}}
    # The section starts at its heading followed by the headline count ("Triggers" / "28").
    starts = {
        name: next(i for i in range(len(lines) - 1) if lines[i] == name and lines[i + 1].isdigit())
        for name in sections
    }
    end = lines.index("Popular automations")
    bounds = {"Triggers": (starts["Triggers"], starts["Actions"]), "Actions": (starts["Actions"], end)}
    for name, (lo, hi) in bounds.items():
        body = lines[lo:hi]
        i = 0
        while i < len(body):
            match = _COUNT.match(body[i + 1]) if i + 1 < len(body) else None
            if match is None:
                i += 1
                continue
            heading, count = body[i], int(match.group(1))
            entries = body[i + 2 : i + 2 + 2 * count]
            titles = entries[0::2]
            assert len(titles) == count, f"{name}/{heading}: expected {count} entries"
            sections[name][heading] = titles
            i += 2 + 2 * count
    return sections


SPEC_LISTS = _spec_lists()
FAMILY_BY_TITLE = {f.title: f for f in FAMILIES if not f.any_object}


def test_spec_page_lists_the_expected_totals() -> None:
    # The headline says 28 / 52, the lists hold 30 / 54 (DESIGN.md section 4): build what the lists hold.
    assert sum(len(v) for v in SPEC_LISTS["Triggers"].values()) == 30
    assert sum(len(v) for v in SPEC_LISTS["Actions"].values()) == 54


def test_every_spec_action_exists_and_nothing_extra() -> None:
    spec = Counter((heading, title) for heading, titles in SPEC_LISTS["Actions"].items() for title in titles)
    ours = Counter((catalog.family(a.family).title, a.title) for a in catalog.spec_actions())
    missing = spec - ours
    extra = ours - spec
    assert not missing, f"actions missing from the catalog: {sorted(missing)}"
    assert not extra, f"actions in the catalog but not in the spec: {sorted(extra)}"
    assert len(catalog.spec_actions()) == 54


def test_every_spec_trigger_exists_and_nothing_extra() -> None:
    spec = Counter((heading, title) for heading, titles in SPEC_LISTS["Triggers"].items() for title in titles)
    ours = Counter((catalog.family(t.family).title, t.title) for t in catalog.spec_triggers())
    missing = spec - ours
    extra = ours - spec
    assert not missing, f"triggers missing from the catalog: {sorted(missing)}"
    assert not extra, f"triggers in the catalog but not in the spec: {sorted(extra)}"
    assert len(catalog.spec_triggers()) == 30


def test_every_record_family_has_a_supplementary_deleted_trigger() -> None:
    extras = [t for t in TRIGGERS if not t.in_spec]
    deleted = [t for t in extras if t.kind is TriggerKind.DELETED]
    # The other supplementary triggers: a new Salesforce File and a new campaign member (issue 19).
    assert {t.key for t in extras} - {t.key for t in deleted} == {"files.created", "campaign_members.created"}
    # The any-object family has no triggers (a trigger names its object through its own family).
    record_families = {f.key for f in FAMILIES} - {"attachments", "files", "campaigns", "objects"}
    assert {t.family for t in deleted} == record_families
    # Every trigger has a stream: the 24 record triggers, field matched (4), entered list view (2)
    # and the extras.
    served = {t.key for t in TRIGGERS if t.stream is not None}
    assert len(served) == 24 + 4 + 2 + len(extras) == len(TRIGGERS)


def test_twelve_families_cover_every_spec_heading() -> None:
    spec_families = {a.family for a in ACTIONS if a.in_spec}
    assert len(spec_families) == 12
    # Beyond the spec: Salesforce Files and campaign membership (issue 19), any object (issue 20).
    assert {f.key for f in FAMILIES} - spec_families == {"files", "campaigns", "objects"}
    assert [f.key for f in FAMILIES if f.any_object] == ["objects"]
    headings = set(SPEC_LISTS["Actions"]) | set(SPEC_LISTS["Triggers"])
    assert headings == {catalog.family(key).title for key in spec_families}


def test_keys_are_unique_and_stable_in_shape() -> None:
    keys = [a.key for a in ACTIONS] + [t.key for t in TRIGGERS]
    assert len(keys) == len(set(keys))
    for key in keys:
        assert re.fullmatch(r"[a-z_]+\.[a-z_]+", key), key
    for fam in FAMILIES:
        assert re.fullmatch(r"[a-z_]+", fam.key)


@pytest.mark.parametrize(
    ("key", "kind", "method", "route"),
    [
        ("accounts.create", OperationKind.CREATE, "POST", "/connections/{connection_id}/accounts"),
        (
            "contacts.update",
            OperationKind.UPDATE,
            "PATCH",
            "/connections/{connection_id}/contacts/{record_id}",
        ),
        ("leads.find", OperationKind.FIND, "POST", "/connections/{connection_id}/leads/find"),
        (
            "opportunities.upsert",
            OperationKind.UPSERT,
            "PUT",
            "/connections/{connection_id}/opportunities/upsert",
        ),
        ("cases.delete", OperationKind.DELETE, "DELETE", "/connections/{connection_id}/cases/{record_id}"),
        (
            "cases.add_comment",
            OperationKind.CREATE_CHILD,
            "POST",
            "/connections/{connection_id}/cases/{record_id}/comments",
        ),
        (
            "associations.get",
            OperationKind.GET,
            "GET",
            "/connections/{connection_id}/associations/{record_id}",
        ),
        (
            "associations.find_all",
            OperationKind.FIND_ALL,
            "POST",
            "/connections/{connection_id}/associations/find_all",
        ),
        (
            "custom_objects.delete",
            OperationKind.DELETE,
            "DELETE",
            "/connections/{connection_id}/custom_objects/{sobject}/{record_id}",
        ),
        (
            "attachments.get_content",
            OperationKind.ATTACHMENT_CONTENT,
            "GET",
            "/connections/{connection_id}/attachments/{record_id}/content",
        ),
    ],
)
def test_action_shapes(key: str, kind: OperationKind, method: str, route: str) -> None:
    act = catalog.action(key)
    assert (act.kind, act.method, act.route) == (kind, method, route)
    assert act.path_params[0] == "connection_id"


def test_sobjects_of_families() -> None:
    expected = {
        "accounts": "Account",
        "contacts": "Contact",
        "leads": "Lead",
        "opportunities": "Opportunity",
        "cases": "Case",
        "products": "Product2",
        "tasks": "Task",
        "events": "Event",
        "line_items": "OpportunityLineItem",
        "associations": "OpportunityContactRole",
        "attachments": "Attachment",
        "files": "ContentVersion",
        "campaigns": "Campaign",
        "custom_objects": None,
        "objects": None,
    }
    assert {f.key: f.sobject for f in FAMILIES} == expected
    assert catalog.action("cases.add_comment").sobject == "CaseComment"
    assert catalog.action("attachments.add_feed_comment").sobject == "FeedComment"
    assert catalog.trigger("cases.comment_created").sobject == "CaseComment"


def test_trigger_kinds_and_params() -> None:
    kinds = Counter(t.kind for t in TRIGGERS)
    assert kinds[TriggerKind.ENTERED_LIST_VIEW] == 2
    assert kinds[TriggerKind.FIELD_MATCHED] == 4
    assert kinds[TriggerKind.COMMENT_CREATED] == kinds[TriggerKind.COMMENT_UPDATED] == 1
    assert kinds[TriggerKind.RECORD_CREATED] == kinds[TriggerKind.RECORD_UPDATED] == 1
    matched = catalog.trigger("opportunities.field_matched").params_model
    params = matched.model_validate({"field": "StageName", "value": "Closed Won"})
    assert params.model_dump() == {"field": "StageName", "value": "Closed Won", "mode": "changed_to"}
    custom = catalog.trigger("custom_objects.record_created").params_model
    with pytest.raises(ValueError, match="sobject"):
        custom.model_validate({"sobject": "Account"})


def test_create_type_actions_honour_idempotency_keys() -> None:
    creates = {a.key for a in ACTIONS if a.idempotent_create}
    # A batch answers 200 with per-record results (each says whether it created).
    assert all(
        a.method == "POST" and a.status_code == (200 if a.kind is OperationKind.BATCH else 201)
        for a in ACTIONS
        if a.idempotent_create
    )
    assert {"accounts.create", "cases.add_comment", "attachments.add", "custom_objects.create"} <= creates
    assert "accounts.upsert" not in creates


def test_unknown_keys_raise_naming_the_key() -> None:
    with pytest.raises(KeyError, match="nope"):
        catalog.family("nope")
    with pytest.raises(KeyError, match=r"accounts\.merge"):
        catalog.action("accounts.merge")


def test_every_family_has_a_function_and_template_block() -> None:
    """Adding a family = a catalog entry + functions/<key>/app.py + a template block: all three exist."""
    resources = load_template(TEMPLATE)["Resources"]
    for fam in (*FAMILIES, *catalog.SERVICE_FAMILIES):
        assert (FUNCTIONS / fam.key / "app.py").is_file(), f"functions/{fam.key}/app.py missing"
        block = resources.get(fam.function_name)
        assert block is not None, f"template.yaml has no {fam.function_name}"
        props = block["Properties"]
        assert props["CodeUri"].rstrip("/") == f"functions/{fam.key}"
        assert props["Handler"] == "app.lambda_handler"
        paths = {e["Properties"]["Path"] for e in props["Events"].values() if e["Type"] == "Api"}
        collection = f"/connections/{{connection_id}}/{fam.key}" + (
            "/{sobject}/records" if fam.any_object else ""
        )
        assert collection in paths
        assert f"{collection}/{{proxy+}}" in paths
