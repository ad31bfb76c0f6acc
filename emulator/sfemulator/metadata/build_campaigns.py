"""Add Campaign and CampaignMember to the emulator's describes (a developer tool, beside ``build``).

Run with ``python -m sfemulator.metadata.build_campaigns [SOURCE_DIR]``. Kept apart from
:mod:`sfemulator.metadata.build` so that modelling campaigns does not regenerate (and change) the
other objects' files: Campaign comes from the real v42 capture (``Campaign.describe.v42.grouparoo.json``),
trimmed by the same rules; no CampaignMember describe was captured, so its fields are synthesised
from the Case capture's field template and the facts below (the standard CampaignMember fields a
connector reads: the campaign, the lead or contact, the status and the member's copied name/email),
and so are CampaignMemberStatus's (a campaign's member statuses).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from sfemulator.metadata.build import (
    DEFAULT_SOURCE,
    MODELLED,
    OUT,
    _clean_fields,
    _load,
    _object_level,
    _synth_field,
)

__all__ = ["build_campaigns"]

_STATUS_VALUES = [
    {"value": "Sent", "defaultValue": True},
    {"value": "Responded"},
    {"value": "Planned"},
    {"value": "Received"},
]
"""The member statuses of a new campaign (Salesforce creates "Sent" and "Responded"; the describe
lists the org's CampaignMemberStatus labels). The emulator checks a member's Status against its
campaign's statuses (sfemulator.campaigns)."""

_MEMBER_FIELDS: list[tuple[str, str, str, dict[str, Any]]] = [
    # (name, type, label, facts)
    ("Id", "id", "Campaign Member ID", {}),
    ("IsDeleted", "boolean", "Deleted", {}),
    ("CampaignId", "reference", "Campaign ID",
     {"flags": "C", "referenceTo": ["Campaign"], "relationshipName": "Campaign", "relationshipOrder": 0}),
    ("LeadId", "reference", "Lead ID", {"flags": "C", "referenceTo": ["Lead"], "relationshipName": "Lead"}),
    ("ContactId", "reference", "Contact ID",
     {"flags": "C", "referenceTo": ["Contact"], "relationshipName": "Contact"}),
    ("Status", "picklist", "Status", {"flags": "CU", "defaultedOnCreate": True, "length": 40}),
    ("HasResponded", "boolean", "Responded", {"defaultedOnCreate": True, "defaultValue": False}),
    ("CreatedDate", "datetime", "Created Date", {}),
    ("CreatedById", "reference", "Created By ID", {"referenceTo": ["User"], "relationshipName": "CreatedBy"}),
    ("LastModifiedDate", "datetime", "Last Modified Date", {}),
    ("LastModifiedById", "reference", "Last Modified By ID",
     {"referenceTo": ["User"], "relationshipName": "LastModifiedBy"}),
    ("SystemModstamp", "datetime", "System Modstamp", {}),
    ("FirstRespondedDate", "date", "Member First Responded", {}),
    ("Salutation", "string", "Salutation", {"length": 40}),
    ("Name", "string", "Name", {"length": 121, "nameField": True}),
    ("FirstName", "string", "First Name", {"length": 40}),
    ("LastName", "string", "Last Name", {"length": 80}),
    ("Title", "string", "Title", {"length": 128}),
    ("CompanyOrAccount", "string", "Company (Account)", {"length": 255}),
    ("Email", "email", "Email", {"length": 80}),
    ("Phone", "phone", "Phone", {"length": 40}),
    ("LeadSource", "string", "Lead Source", {"length": 255}),
    ("Description", "textarea", "Description", {"flags": "CU", "length": 32000}),
    ("Type", "string", "Type", {"length": 255}),
    ("LeadOrContactId", "reference", "Contact or Lead ID",
     {"referenceTo": ["Contact", "Lead"], "polymorphicForeignKey": True}),
    ("LeadOrContactOwnerId", "reference", "Contact or Lead Owner ID", {"referenceTo": ["User"]}),
]  # fmt: skip


_FLAG_CU_FALSE = {"flags": "CU", "defaultedOnCreate": True, "defaultValue": False}
_STATUS_FIELDS: list[tuple[str, str, str, dict[str, Any]]] = [
    ("Id", "id", "Campaign Member Status ID", {}),
    ("IsDeleted", "boolean", "Deleted", {}),
    ("CampaignId", "reference", "Campaign ID",
     {"flags": "C", "referenceTo": ["Campaign"], "relationshipName": "Campaign", "relationshipOrder": 0}),
    ("Label", "string", "Member Status", {"flags": "CU", "length": 765}),
    ("SortOrder", "int", "Sort Order", {"flags": "CU", "digits": 9}),
    ("IsDefault", "boolean", "Default", _FLAG_CU_FALSE),
    ("HasResponded", "boolean", "Responded", _FLAG_CU_FALSE),
    ("CreatedDate", "datetime", "Created Date", {}),
    ("CreatedById", "reference", "Created By ID", {"referenceTo": ["User"], "relationshipName": "CreatedBy"}),
    ("LastModifiedDate", "datetime", "Last Modified Date", {}),
    ("LastModifiedById", "reference", "Last Modified By ID",
     {"referenceTo": ["User"], "relationshipName": "LastModifiedBy"}),
    ("SystemModstamp", "datetime", "System Modstamp", {}),
]  # fmt: skip
"""A campaign's member statuses (a new campaign gets "Sent", the default, and "Responded")."""

_NOT_NILLABLE = (
    "Id", "IsDeleted", "CampaignId", "HasResponded", "IsDefault", "Label", "CreatedDate", "CreatedById",
    "LastModifiedDate", "LastModifiedById", "SystemModstamp",
)  # fmt: skip


def _synthesised(
    name_: str,
    prefix: str,
    spec: list[tuple[str, str, str, dict[str, Any]]],
    template_keys: list[str],
    case_template: dict[str, Any],
    glob: dict[str, Any],
) -> dict[str, Any]:
    obj = _object_level(name_, case_template, glob.get(name_))
    obj["keyPrefix"] = prefix
    obj.update(_MARKETING_USER)
    fields = []
    for name, type_, label, facts in spec:
        trimmed: dict[str, Any] = {
            "name": name,
            "type": type_,
            "label": label,
            "nillable": name not in _NOT_NILLABLE,
            "filterable": type_ != "textarea",
            "sortable": type_ != "textarea",
            "groupable": type_ not in ("textarea", "datetime"),
            "aggregatable": type_ not in ("textarea", "boolean"),
            "custom": False,
        }  # fmt: skip
        if name_ == "CampaignMember" and name == "Status":
            trimmed["picklistValues"] = _STATUS_VALUES
        fields.append(_synth_field(template_keys, trimmed, facts))
    obj["fields"] = _clean_fields(fields)
    return obj


_MARKETING_USER = {"createable": True, "updateable": True, "deletable": True}
"""The v59 global describe's user was no Marketing User (Campaign and CampaignMemberStatus read-only
there); the emulator's users are, as the v42 Campaign capture's was."""


def build_campaigns(source: Path) -> None:
    # Campaign's own lookups (ParentId, CampaignMember.CampaignId) resolve once it is modelled.
    MODELLED.update({"Campaign", "CampaignMember", "CampaignMemberStatus"})
    case_template = _load(source / "Case.describe.json")
    template_keys = sorted(case_template["fields"][0].keys())
    glob = {s["name"]: s for s in _load(source / "global-describe.v59.json")["sobjects"]}
    captured = _load(source / "Campaign.describe.v42.grouparoo.json")
    campaign = {k: v for k, v in captured.items() if k not in ("childRelationships", "urls")}
    campaign.pop("sobjectDescribeOption", None)
    campaign["fields"] = _clean_fields(captured["fields"])
    campaign["recordTypeInfos"] = []
    out = {
        "Campaign": campaign,
        "CampaignMember": _synthesised(
            "CampaignMember", "00v", _MEMBER_FIELDS, template_keys, case_template, glob
        ),
        "CampaignMemberStatus": _synthesised(
            "CampaignMemberStatus", "01Y", _STATUS_FIELDS, template_keys, case_template, glob
        ),
    }
    for name, obj in out.items():
        path = OUT / f"{name}.json"
        path.write_text(json.dumps(obj, separators=(",", ":"), sort_keys=False) + "\n", encoding="utf-8")
        print(f"{path.name}: {len(obj['fields'])} fields")
    extra = OUT.parent
    rels = _load(extra / "child_relationships.json")
    rels["Campaign|CampaignMember|CampaignId"] = {
        "cascadeDelete": True, "relationshipName": "CampaignMembers", "restrictedDelete": False,
    }  # fmt: skip
    rels["Campaign|CampaignMemberStatus|CampaignId"] = {
        "cascadeDelete": True, "relationshipName": "CampaignMemberStatuses", "restrictedDelete": False,
    }  # fmt: skip
    rels["Lead|CampaignMember|LeadId"] = {
        "cascadeDelete": True, "relationshipName": "CampaignMembers", "restrictedDelete": False,
    }  # fmt: skip
    rels["Contact|CampaignMember|ContactId"] = {
        "cascadeDelete": True, "relationshipName": "CampaignMembers", "restrictedDelete": False,
    }  # fmt: skip
    (extra / "child_relationships.json").write_text(
        json.dumps(rels, indent=1, sort_keys=True) + "\n", encoding="utf-8"
    )
    global_doc = _load(extra / "global.json")
    known = {s["name"] for s in global_doc["sobjects"]}
    for name in out:
        if name not in known:
            entry = {k: v for k, v in glob[name].items() if k != "urls"}
            entry.update(_MARKETING_USER)
            global_doc["sobjects"].append(entry)
    global_doc["sobjects"].sort(key=lambda s: s["name"])
    (extra / "global.json").write_text(json.dumps(global_doc, separators=(",", ":")) + "\n", encoding="utf-8")


if __name__ == "__main__":
    build_campaigns(Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT_SOURCE)
