"""Regenerate the emulator's describe files from the real captured describes (a developer tool).

The captures live outside the repository (``/work/shared/salesforce-describe``, see its SOURCES.md);
CI never sees them, so their trimmed output is committed under ``sobjects/``. Run with
``python -m sfemulator.metadata.build [SOURCE_DIR]`` after changing the rules below.

What the trimming does, and why:
* only the objects the connector touches are kept, and each keeps the fields of a standard org;
* references to objects the emulator does not model are dropped (a lookup the emulator could never
  resolve would only reject every value), and polymorphic references keep their modelled targets;
* state/country picklists and multi-currency are off (their code fields and ``CurrencyIsoCode`` go);
* ``urls`` and ``childRelationships`` are rebuilt at run time from the modelled objects;
* the objects only captured with 15 field attributes (the VS Code SOQL cache) get the remaining 42
  attributes synthesised from their type plus the per-field facts written below.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

OUT = Path(__file__).resolve().parent / "sobjects"
DEFAULT_SOURCE = Path("/work/shared/salesforce-describe")

MODELLED = {
    "Account", "Contact", "Lead", "Opportunity", "Case", "Task", "Event", "OpportunityContactRole",
    "Product2", "Pricebook2", "PricebookEntry", "OpportunityLineItem", "Attachment", "CaseComment",
    "FeedItem", "FeedComment", "User", "AccountHistory", "OpportunityFieldHistory", "CaseHistory",
    "ContactHistory", "ContentVersion", "ContentDocument", "ContentDocumentLink",
}  # fmt: skip
CUSTOM_TARGETS = {"Invoice__c"}

FULL = {
    "Account": "Account.describe.json",
    "Contact": "Contact.describe.json",
    "Lead": "Lead.describe.json",
    "Opportunity": "Opportunity.describe.json",
    "Case": "Case.describe.json",
    "Task": "Task.describe.json",
    "Event": "Event.describe.json",
    "OpportunityContactRole": "OpportunityContactRole.describe.json",
}
FIELDS_ONLY = {
    "Product2": "Product2.describe.fields-only.willscot.json",
    "Pricebook2": "Pricebook2.describe.fields-only.willscot.json",
    "PricebookEntry": "PricebookEntry.describe.fields-only.willscot.json",
    "User": "User.describe.fields-only.willscot.json",
}
USER_FIELDS = [
    "Id", "Username", "LastName", "FirstName", "Name", "CompanyName", "Division", "Department", "Title",
    "Street", "City", "State", "PostalCode", "Country", "Latitude", "Longitude", "GeocodeAccuracy",
    "Address", "Email", "SenderEmail", "SenderName", "Signature", "Phone", "Fax", "MobilePhone", "Alias",
    "CommunityNickname", "IsActive", "TimeZoneSidKey", "LocaleSidKey", "ReceivesInfoEmails",
    "EmailEncodingKey", "UserType", "LanguageLocaleKey", "EmployeeNumber", "ManagerId", "LastLoginDate",
    "CreatedDate", "CreatedById", "LastModifiedDate", "LastModifiedById", "SystemModstamp",
    "ContactId", "AccountId", "Extension", "FederationIdentifier", "AboutMe", "FullPhotoUrl",
    "SmallPhotoUrl", "LastViewedDate", "LastReferencedDate",
]  # fmt: skip
TRIMMED = {
    "OpportunityLineItem": "OpportunityLineItem.soqlMetadata.json",
    "Attachment": "Attachment.soqlMetadata.json",
    "CaseComment": "CaseComment.soqlMetadata.json",
    "FeedItem": "FeedItem.soqlMetadata.json",
    "FeedComment": "FeedComment.soqlMetadata.json",
    "AccountHistory": "AccountHistory.soqlMetadata.json",
    "OpportunityFieldHistory": "OpportunityFieldHistory.soqlMetadata.json",
    "ContentVersion": "ContentVersion.soqlMetadata.json",
}
# Salesforce Files objects with no capture: their field lists as the SOAP API Developer Guide's
# object reference documents them (name, type, nillable, targets, picklist values).
_PICK = "picklistValues"
HAND: dict[str, list[dict[str, Any]]] = {
    "ContentDocument": [
        {"name": "Id", "type": "id", "nillable": False, "label": "ContentDocument ID"},
        {"name": "CreatedById", "type": "reference", "nillable": False, "referenceTo": ["User"],
         "relationshipName": "CreatedBy", "label": "Created By ID"},
        {"name": "CreatedDate", "type": "datetime", "nillable": False, "label": "Created"},
        {"name": "LastModifiedById", "type": "reference", "nillable": False, "referenceTo": ["User"],
         "relationshipName": "LastModifiedBy", "label": "Last Modified By ID"},
        {"name": "LastModifiedDate", "type": "datetime", "nillable": False, "label": "Last Modified Date"},
        {"name": "IsArchived", "type": "boolean", "nillable": False, "label": "Is Archived"},
        {"name": "IsDeleted", "type": "boolean", "nillable": False, "label": "Is Deleted"},
        {"name": "OwnerId", "type": "reference", "nillable": False, "referenceTo": ["User"],
         "relationshipName": "Owner", "label": "Owner ID"},
        {"name": "SystemModstamp", "type": "datetime", "nillable": False, "label": "System Modstamp"},
        {"name": "Title", "type": "string", "nillable": False, "label": "Title"},
        {"name": "PublishStatus", "type": "picklist", "nillable": False, "label": "Publish Status",
         _PICK: [{"value": "U"}, {"value": "P"}, {"value": "R"}]},
        {"name": "LatestPublishedVersionId", "type": "reference", "nillable": True,
         "referenceTo": ["ContentVersion"], "relationshipName": "LatestPublishedVersion",
         "label": "Latest Published Version ID"},
        {"name": "Description", "type": "textarea", "nillable": True, "label": "Description"},
        {"name": "ContentSize", "type": "int", "nillable": True, "label": "Size"},
        {"name": "FileType", "type": "string", "nillable": True, "label": "File Type"},
        {"name": "FileExtension", "type": "string", "nillable": True, "label": "File Extension"},
        {"name": "SharingOption", "type": "picklist", "nillable": False, "label": "Sharing Option",
         _PICK: [{"value": "A"}, {"value": "R"}]},
        {"name": "SharingPrivacy", "type": "picklist", "nillable": False, "label": "Sharing Privacy",
         _PICK: [{"value": "N"}, {"value": "P"}]},
        {"name": "ContentModifiedDate", "type": "datetime", "nillable": True, "label": "Modified Date"},
    ],
    "ContentDocumentLink": [
        {"name": "Id", "type": "id", "nillable": False, "label": "ContentDocumentLink ID"},
        {"name": "LinkedEntityId", "type": "reference", "nillable": False, "label": "Linked Entity ID",
         "relationshipName": "LinkedEntity", "referenceTo": [
             "Account", "Contact", "Lead", "Opportunity", "Case", "Task", "Event", "Product2", "User",
             "Invoice__c"]},
        {"name": "ContentDocumentId", "type": "reference", "nillable": False, "label": "Content Document ID",
         "referenceTo": ["ContentDocument"], "relationshipName": "ContentDocument"},
        {"name": "IsDeleted", "type": "boolean", "nillable": False, "label": "Is Deleted"},
        {"name": "SystemModstamp", "type": "datetime", "nillable": False, "label": "System Modstamp"},
        {"name": "ShareType", "type": "picklist", "nillable": True, "label": "Share Type",
         _PICK: [{"value": "V", "label": "Viewer"}, {"value": "C", "label": "Collaborator"},
                 {"value": "I", "label": "Inferred"}]},
        {"name": "Visibility", "type": "picklist", "nillable": True, "label": "Visibility",
         _PICK: [{"value": "AllUsers"}, {"value": "InternalUsers"}, {"value": "SharedUsers"}]},
    ],
}  # fmt: skip
DROP_FIELDS = {
    "BillingStateCode", "BillingCountryCode", "ShippingStateCode", "ShippingCountryCode",
    "MailingStateCode", "MailingCountryCode", "OtherStateCode", "OtherCountryCode", "StateCode",
    "CountryCode", "CurrencyIsoCode", "DefaultCurrencyIsoCode", "IsSerialized", "TransferRecordMode",
    "CommentBodyRichtext",
}  # fmt: skip
# The Pricebook2 capture comes from an org whose integration user may set audit fields on create.
NOT_CREATEABLE = {"CreatedDate", "CreatedById", "LastModifiedDate", "LastModifiedById"}

# Facts for the 15-attribute objects: C = createable, U = updateable, plus length / precision etc.
SYNTH: dict[str, dict[str, dict[str, Any]]] = {
    "OpportunityLineItem": {
        "OpportunityId": {"flags": "C", "relationshipOrder": 0},
        "SortOrder": {"flags": ""},
        "PricebookEntryId": {"flags": "C"},
        "Product2Id": {"flags": "C"},
        "ProductCode": {"length": 255},
        "Name": {"length": 376, "nameField": True},
        "Quantity": {"flags": "CU", "precision": 12, "scale": 2},
        "TotalPrice": {"flags": "CU", "precision": 18, "scale": 2},
        "UnitPrice": {"flags": "CU", "precision": 18, "scale": 2},
        "ListPrice": {"precision": 18, "scale": 2},
        "ServiceDate": {"flags": "CU"},
        "Description": {"flags": "CU", "length": 255},
    },
    "Attachment": {
        "ParentId": {"flags": "C", "polymorphicForeignKey": True},
        "Name": {"flags": "CU", "length": 255, "nameField": True},
        "IsPrivate": {"flags": "CU", "defaultedOnCreate": True, "defaultValue": False},
        "ContentType": {"flags": "CU", "length": 120},
        "BodyLength": {"digits": 9},
        "Body": {"flags": "CU", "length": 26214400},
        "OwnerId": {"flags": "CU", "defaultedOnCreate": True},
        "Description": {"flags": "CU", "length": 500},
    },
    "CaseComment": {
        "ParentId": {"flags": "C", "relationshipOrder": 0},
        "IsPublished": {"flags": "CU", "defaultedOnCreate": True, "defaultValue": False},
        "CommentBody": {"flags": "CU", "length": 4000},
    },
    "FeedItem": {
        "ParentId": {"flags": "C", "polymorphicForeignKey": True},
        "Type": {"flags": "C", "defaultedOnCreate": True, "length": 40},
        "Revision": {"digits": 9},
        "CommentCount": {"digits": 9, "defaultedOnCreate": True},
        "LikeCount": {"digits": 9, "defaultedOnCreate": True},
        "Title": {"flags": "CU", "length": 255},
        "Body": {"flags": "CU", "length": 10000},
        "LinkUrl": {"flags": "CU", "length": 1000},
        "IsRichText": {"flags": "CU", "defaultedOnCreate": True, "defaultValue": False},
        "InsertedById": {"defaultedOnCreate": True},
        "BestCommentId": {"flags": "U"},
        "HasContent": {"defaultedOnCreate": True},
        "HasLink": {"defaultedOnCreate": True},
        "HasFeedEntity": {"defaultedOnCreate": True},
        "HasVerifiedComment": {"defaultedOnCreate": True},
        "IsClosed": {"defaultedOnCreate": True},
        "Status": {"flags": "CU", "length": 40},
    },
    "FeedComment": {
        "FeedItemId": {"flags": "C"},
        "ParentId": {"polymorphicForeignKey": True},
        "Revision": {"digits": 9},
        "CommentBody": {"flags": "CU", "length": 10000},
        "InsertedById": {"defaultedOnCreate": True},
        "CommentType": {"flags": "C", "length": 40},
        "IsRichText": {"flags": "CU", "defaultedOnCreate": True, "defaultValue": False},
        "IsVerified": {"defaultedOnCreate": True},
        "HasEntityLinks": {"defaultedOnCreate": True},
        "Status": {"flags": "CU", "length": 40},
        "ThreadParentId": {"flags": "C"},
        "ThreadLevel": {"digits": 9},
        "ThreadChildrenCount": {"digits": 9},
    },
    "AccountHistory": {"Field": {"length": 255}, "DataType": {"length": 255}},
    # A ContentVersion's body: 2 GB through a multipart request (the field's describe length
    # cannot say so: it is an int). Title, PathOnClient and the publish location are set on insert.
    "ContentVersion": {
        "ContentDocumentId": {"flags": "C", "defaultedOnCreate": True},
        "Title": {"flags": "CU", "nameField": True, "defaultedOnCreate": True},
        "Description": {"flags": "CU", "length": 1000},
        "ReasonForChange": {"flags": "CU"},
        "PathOnClient": {"flags": "C", "length": 500},
        "VersionData": {"flags": "C", "length": 2147483647},
        "FirstPublishLocationId": {"flags": "C", "polymorphicForeignKey": True},
        "OwnerId": {"flags": "CU", "defaultedOnCreate": True},
        "SharingOption": {"flags": "CU", "defaultedOnCreate": True, "defaultValue": "A"},
        "SharingPrivacy": {"flags": "CU", "defaultedOnCreate": True, "defaultValue": "N"},
        "Origin": {"flags": "C", "defaultedOnCreate": True, "defaultValue": "C"},
        "ContentLocation": {"flags": "C", "defaultedOnCreate": True, "defaultValue": "S"},
        "IsMajorVersion": {"flags": "C", "defaultedOnCreate": True, "defaultValue": True},
        "IsLatest": {"defaultedOnCreate": True},
        "PublishStatus": {"defaultedOnCreate": True},
        "FileType": {"defaultedOnCreate": True, "length": 20},
        "FileExtension": {"length": 40},
        "VersionNumber": {"length": 20},
        "Checksum": {"length": 50},
        "ContentSize": {"digits": 9},
        "TagCsv": {"flags": "CU", "length": 2000},
    },
    "ContentDocument": {
        "Title": {"flags": "U", "nameField": True},
        "Description": {"flags": "U", "length": 1000},
        "OwnerId": {"flags": "U"},
        "IsArchived": {"defaultedOnCreate": True},
        "PublishStatus": {"defaultedOnCreate": True},
        "SharingOption": {"flags": "U", "defaultedOnCreate": True},
        "SharingPrivacy": {"flags": "U", "defaultedOnCreate": True},
        "FileType": {"length": 20},
        "FileExtension": {"length": 40},
        "ContentSize": {"digits": 9},
    },
    "ContentDocumentLink": {
        "LinkedEntityId": {"flags": "C", "polymorphicForeignKey": True},
        "ContentDocumentId": {"flags": "C"},
        "ShareType": {"flags": "CU", "defaultedOnCreate": True},
        "Visibility": {"flags": "CU", "defaultedOnCreate": True},
    },
    "OpportunityFieldHistory": {"Field": {"length": 255}, "DataType": {"length": 255}},
}
SYSTEM_FIELDS = {
    "Id", "IsDeleted", "CreatedDate", "CreatedById", "LastModifiedDate", "LastModifiedById",
    "SystemModstamp",
}  # fmt: skip
SOAP_TYPES = {
    "id": "tns:ID", "reference": "tns:ID", "boolean": "xsd:boolean", "int": "xsd:int",
    "double": "xsd:double", "currency": "xsd:double", "percent": "xsd:double", "date": "xsd:date",
    "datetime": "xsd:dateTime", "base64": "xsd:base64Binary", "anyType": "xsd:anyType", "time": "xsd:time",
}  # fmt: skip
OBJECT_KEYS_FROM_GLOBAL = (
    "activateable", "createable", "custom", "customSetting", "deletable", "deprecatedAndHidden",
    "feedEnabled", "hasSubtypes", "isSubtype", "keyPrefix", "label", "labelPlural", "layoutable",
    "mergeable", "mruEnabled", "name", "queryable", "replicateable", "retrieveable", "searchable",
    "triggerable", "undeletable", "updateable",
)  # fmt: skip


def _load(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def _keep_reference(field: dict[str, Any]) -> bool:
    """Filter a reference's targets to modelled objects; False when none is left."""
    if field["type"] != "reference":
        return True
    targets = [t for t in field["referenceTo"] if t in MODELLED or t in CUSTOM_TARGETS]
    if field["name"] == "FeedItemId":
        targets = ["FeedItem"]
    if not targets:
        return False
    field["referenceTo"] = targets
    if len(targets) == 1:
        field["polymorphicForeignKey"] = False
    return True


def _clean_fields(fields: list[dict[str, Any]], keep: list[str] | None = None) -> list[dict[str, Any]]:
    out = []
    for f in fields:
        if f["name"] in DROP_FIELDS or (keep is not None and f["name"] not in keep):
            continue
        if keep is not None and f.get("custom"):
            continue
        if not _keep_reference(f):
            continue
        if f["name"] in NOT_CREATEABLE:
            f["createable"] = False
        out.append(f)
    return out


def _synth_field(template_keys: list[str], trimmed: dict[str, Any], facts: dict[str, Any]) -> dict[str, Any]:
    t = trimmed["type"]
    name = trimmed["name"]
    f: dict[str, Any] = {}
    for k in template_keys:
        f[k] = None
    for k in (
        "aiPredictionField", "autoNumber", "calculated", "cascadeDelete", "caseSensitive", "createable",
        "custom", "defaultedOnCreate", "dependentPicklist", "deprecatedAndHidden", "displayLocationInDecimal",
        "encrypted", "externalId", "formulaTreatNullNumberAsZero", "highScaleNumber", "htmlFormatted",
        "idLookup", "nameField", "namePointing", "polymorphicForeignKey", "queryByDistance",
        "restrictedDelete", "restrictedPicklist", "searchPrefilterable", "unique", "updateable",
        "writeRequiresMasterRead",
    ):  # fmt: skip
        f[k] = False
    for k in ("byteLength", "digits", "length", "precision", "scale"):
        f[k] = 0
    f["picklistValues"] = []
    f["referenceTo"] = []
    for k in (
        "aggregatable", "custom", "defaultValue", "extraTypeInfo", "filterable", "groupable",
        "inlineHelpText", "label", "name", "nillable", "picklistValues", "referenceTo",
        "relationshipName", "sortable", "type",
    ):  # fmt: skip
        if k in trimmed:
            f[k] = trimmed[k]
    f["picklistValues"] = [
        {"active": p.get("active", True), "defaultValue": bool(p.get("defaultValue", False)),
         "label": p.get("label", p["value"]), "validFor": p.get("validFor"), "value": p["value"]}
        for p in f["picklistValues"]
    ]  # fmt: skip
    f["soapType"] = SOAP_TYPES.get(t, "xsd:string")
    if t in ("id", "reference"):
        f["length"] = 18
    elif t in ("string", "textarea", "picklist", "url", "email", "phone", "multipicklist"):
        f["length"] = 255
    if name in SYSTEM_FIELDS:
        f["defaultedOnCreate"] = True
    if name == "Id":
        f["idLookup"] = True
    f["permissionable"] = f["nillable"] and name not in SYSTEM_FIELDS
    flags = facts.get("flags", "")
    f["createable"] = "C" in flags
    f["updateable"] = "U" in flags
    for k, v in facts.items():
        if k != "flags":
            f[k] = v
    if t in ("string", "textarea", "picklist", "url", "email", "phone", "multipicklist", "id", "reference"):
        f["byteLength"] = f["length"] * 3 if t not in ("id", "reference") else 18
    if t == "int" and not f["digits"]:
        f["digits"] = 9
    return f


def _object_level(name: str, template: dict[str, Any], global_entry: dict[str, Any] | None) -> dict[str, Any]:
    obj = {k: v for k, v in template.items() if k not in ("fields", "childRelationships", "urls")}
    if global_entry:
        for k in OBJECT_KEYS_FROM_GLOBAL:
            if k in global_entry:
                obj[k] = global_entry[k]
    obj["name"] = name
    obj["recordTypeInfos"] = []
    obj["supportedScopes"] = [{"label": "All " + obj["labelPlural"].lower(), "name": "everything"}]
    obj["actionOverrides"] = []
    obj["namedLayoutInfos"] = []
    return obj


def build(source: Path) -> None:
    trimmed_dir = source / "soqlMetadata-trimmed"
    glob = {s["name"]: s for s in _load(source / "global-describe.v59.json")["sobjects"]}
    case_template = _load(source / "Case.describe.json")
    template_keys = sorted(case_template["fields"][0].keys())
    out: dict[str, dict[str, Any]] = {}
    for name, file in FULL.items():
        d = _load(source / file)
        obj = {k: v for k, v in d.items() if k not in ("childRelationships", "urls")}
        obj["fields"] = _clean_fields(d["fields"])
        for rt in obj.get("recordTypeInfos", []):
            rt["urls"] = {}
        out[name] = obj
    for name, file in FIELDS_ONLY.items():
        d = _load(source / file)
        keep = (
            USER_FIELDS
            if name == "User"
            else [f["name"] for f in _load(trimmed_dir / f"{name}.soqlMetadata.json")["fields"]]
        )
        obj = _object_level(name, case_template, glob.get(name))
        obj["fields"] = _clean_fields(d["fields"], keep)
        out[name] = obj
    for name, file in TRIMMED.items():
        d = _load(trimmed_dir / file)
        obj = _object_level(name, case_template, glob.get(name))
        obj["label"] = d["label"]
        facts = SYNTH.get(name, {})
        fields = [_synth_field(template_keys, f, facts.get(f["name"], {})) for f in d["fields"]]
        obj["fields"] = _clean_fields(fields)
        out[name] = obj
    for name, hand in HAND.items():
        obj = _object_level(name, case_template, glob.get(name))
        facts = SYNTH.get(name, {})
        for f in hand:
            f.setdefault("referenceTo", [])
            f.setdefault("relationshipName", None)
            f.setdefault(_PICK, [])
            f.update(aggregatable=True, custom=False, filterable=True, groupable=True, sortable=True)
        obj["fields"] = _clean_fields(
            [_synth_field(template_keys, f, facts.get(f["name"], {})) for f in hand]
        )
        out[name] = obj
    for parent, lookup in (("Case", "CaseId"), ("Contact", "ContactId")):
        hist = json.loads(json.dumps(out["AccountHistory"]))
        name = f"{parent}History"
        hist.update(_object_level(name, case_template, glob.get(name)))
        for f in hist["fields"]:
            if f["name"] == "AccountId":
                f.update(name=lookup, label=f"{parent} ID", referenceTo=[parent], relationshipName=parent)
            if f["name"] == "Field":
                f["picklistValues"] = []
        out[name] = hist
    for name, obj in out.items():
        if obj.get("keyPrefix") is None and name.endswith("History"):
            obj["keyPrefix"] = None
        path = OUT / f"{name}.json"
        path.write_text(json.dumps(obj, separators=(",", ":"), sort_keys=False) + "\n", encoding="utf-8")
        print(f"{path.name}: {len(obj['fields'])} fields")
    extra = OUT.parent
    rels: dict[str, dict[str, Any]] = {}
    for name, file in FULL.items():
        for rel in _load(source / file)["childRelationships"]:
            if rel["childSObject"] in MODELLED:
                rels[f"{name}|{rel['childSObject']}|{rel['field']}"] = {
                    k: rel[k] for k in ("relationshipName", "cascadeDelete", "restrictedDelete")
                }
    for name in ("Product2", "Pricebook2", "PricebookEntry", "User"):
        for rel in _load(trimmed_dir / f"{name}.soqlMetadata.json")["childRelationships"]:
            if rel["childSObject"] in MODELLED:
                rels.setdefault(
                    f"{name}|{rel['childSObject']}|{rel['field']}",
                    {
                        "relationshipName": rel.get("relationshipName"),
                        "cascadeDelete": rel.get("cascadeDelete", False),
                        "restrictedDelete": rel.get("restrictedDelete", False),
                    },
                )
    # Relationships whose parent was only captured in the trimmed format (no delete flags there).
    rels["FeedItem|FeedComment|FeedItemId"] = {
        "relationshipName": "FeedComments",
        "cascadeDelete": True,
        "restrictedDelete": False,
    }
    # Deleting a file deletes its versions and its links.
    for child, fname, rel_name in (
        ("ContentVersion", "ContentDocumentId", "ContentVersions"),
        ("ContentDocumentLink", "ContentDocumentId", "ContentDocumentLinks"),
    ):
        rels[f"ContentDocument|{child}|{fname}"] = {
            "relationshipName": rel_name,
            "cascadeDelete": True,
            "restrictedDelete": False,
        }
    rels["Pricebook2|PricebookEntry|Pricebook2Id"] = {
        "relationshipName": "PricebookEntries",
        "cascadeDelete": True,
        "restrictedDelete": False,
    }
    rels["Product2|PricebookEntry|Product2Id"] = {
        "relationshipName": "PricebookEntries",
        "cascadeDelete": True,
        "restrictedDelete": False,
    }
    rels["PricebookEntry|OpportunityLineItem|PricebookEntryId"] = {
        "relationshipName": "OpportunityLineItems",
        "cascadeDelete": False,
        "restrictedDelete": True,
    }
    (extra / "child_relationships.json").write_text(
        json.dumps(rels, indent=1, sort_keys=True) + "\n", encoding="utf-8"
    )
    (extra / "global.json").write_text(
        json.dumps(
            {
                "encoding": "UTF-8",
                "maxBatchSize": 200,
                "sobjects": [
                    {k: v for k, v in glob[n].items() if k != "urls"} for n in sorted(out) if n in glob
                ],
            },
            separators=(",", ":"),
        )
        + "\n",
        encoding="utf-8",
    )
    (extra / "limits.json").write_text(
        json.dumps(_load(source / "limits.v60.json"), indent=1) + "\n", encoding="utf-8"
    )
    (extra / "versions.json").write_text(
        json.dumps(_load(source / "versions.json"), indent=1) + "\n", encoding="utf-8"
    )


if __name__ == "__main__":
    build(Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT_SOURCE)
