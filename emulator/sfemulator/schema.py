"""The org's metadata: describes of the modelled sObjects, built from captured describes plus configuration.

``load_schema()`` reads ``metadata/sobjects/*.json`` (trimmed real describes) and ``metadata/custom.json``
(custom objects, custom fields on standard objects, field history tracking), and optionally an extra
configuration file with the same shape, so a user can declare their own custom objects.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["CustomConfig", "FieldDef", "SObjectDef", "Schema", "load_schema"]

METADATA_DIR = Path(__file__).resolve().parent / "metadata"
HISTORY_PREFIX = "017"
NUMERIC_TYPES = frozenset({"int", "double", "currency", "percent"})
TEXT_TYPES = frozenset(
    {
        "string",
        "textarea",
        "email",
        "phone",
        "url",
        "picklist",
        "multipicklist",
        "combobox",
        "encryptedstring",
    }
)


@dataclass(frozen=True, slots=True)
class FieldDef:
    """One field: the describe as Salesforce returns it (``raw``) plus the attributes validation needs."""

    raw: Mapping[str, Any]
    name: str
    type: str
    label: str
    length: int
    precision: int
    scale: int
    digits: int
    nillable: bool
    createable: bool
    updateable: bool
    defaulted_on_create: bool
    external_id: bool
    unique: bool
    case_sensitive: bool
    reference_to: tuple[str, ...]
    relationship_name: str | None
    restricted_picklist: bool
    picklist_values: tuple[str, ...]
    default_picklist_value: str | None
    default_value: Any
    auto_number: bool
    calculated: bool
    filterable: bool
    sortable: bool

    @classmethod
    def from_describe(cls, raw: Mapping[str, Any]) -> FieldDef:
        values = tuple(p["value"] for p in raw.get("picklistValues") or [] if p.get("active", True))
        default_pick = next(
            (p["value"] for p in raw.get("picklistValues") or [] if p.get("defaultValue")), None
        )
        return cls(
            raw=raw,
            name=raw["name"],
            type=raw["type"],
            label=raw.get("label") or raw["name"],
            length=int(raw.get("length") or 0),
            precision=int(raw.get("precision") or 0),
            scale=int(raw.get("scale") or 0),
            digits=int(raw.get("digits") or 0),
            nillable=bool(raw.get("nillable")),
            createable=bool(raw.get("createable")),
            updateable=bool(raw.get("updateable")),
            defaulted_on_create=bool(raw.get("defaultedOnCreate")),
            external_id=bool(raw.get("externalId")),
            unique=bool(raw.get("unique")),
            case_sensitive=bool(raw.get("caseSensitive")),
            reference_to=tuple(raw.get("referenceTo") or ()),
            relationship_name=raw.get("relationshipName"),
            restricted_picklist=bool(raw.get("restrictedPicklist")),
            picklist_values=values,
            default_picklist_value=default_pick,
            default_value=raw.get("defaultValue"),
            auto_number=bool(raw.get("autoNumber")),
            calculated=bool(raw.get("calculated")),
            filterable=bool(raw.get("filterable", True)),
            sortable=bool(raw.get("sortable", True)),
        )

    @property
    def required_on_create(self) -> bool:
        """Salesforce's rule: createable, not nillable and not defaulted on create."""
        return self.createable and not self.nillable and not self.defaulted_on_create


@dataclass
class SObjectDef:
    """One sObject: object-level describe keys, ordered fields, child relationships, tracked fields."""

    name: str
    raw: dict[str, Any]
    fields: dict[str, FieldDef]
    key_prefix: str
    child_relationships: list[dict[str, Any]] = field(default_factory=list)
    tracked_fields: tuple[str, ...] = ()
    history_object: str | None = None
    _by_lower: dict[str, FieldDef] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._by_lower = {name.lower(): f for name, f in self.fields.items()}

    def field(self, name: str) -> FieldDef | None:
        """Case-insensitive field lookup (Salesforce field names are case-insensitive)."""
        return self._by_lower.get(name.lower())

    @property
    def label(self) -> str:
        return str(self.raw.get("label") or self.name)

    @property
    def custom(self) -> bool:
        return bool(self.raw.get("custom"))

    def flag(self, key: str) -> bool:
        return bool(self.raw.get(key))

    @cached_property
    def relationships(self) -> dict[str, FieldDef]:
        """Reference fields by lower-case relationship name (``account`` -> AccountId)."""
        return {f.relationship_name.lower(): f for f in self.fields.values() if f.relationship_name}

    def urls(self, version: str) -> dict[str, str]:
        base = f"/services/data/{version}/sobjects/{self.name}"
        return {
            "compactLayouts": f"{base}/describe/compactLayouts",
            "rowTemplate": f"{base}/{{ID}}",
            "approvalLayouts": f"{base}/describe/approvalLayouts",
            "listviews": f"{base}/listviews",
            "describe": f"{base}/describe",
            "quickActions": f"{base}/quickActions",
            "layouts": f"{base}/describe/layouts",
            "sobject": base,
        }

    def describe(self, version: str, instance_url: str) -> dict[str, Any]:
        """The full describe, with urls for the requested API version and this instance."""
        out = {k: v for k, v in self.raw.items() if k not in ("fields",)}
        urls = self.urls(version)
        urls["uiDetailTemplate"] = f"{instance_url}/{{ID}}"
        urls["uiEditTemplate"] = f"{instance_url}/{{ID}}/e"
        if self.key_prefix:
            urls["uiNewRecord"] = f"{instance_url}/{self.key_prefix}/e"
        out["childRelationships"] = self.child_relationships
        out["fields"] = [f.raw for f in self.fields.values()]
        out["urls"] = urls
        out["keyPrefix"] = self.raw.get("keyPrefix")
        return dict(sorted(out.items()))

    def global_entry(self, version: str) -> dict[str, Any]:
        keys = (
            "activateable", "associateEntityType", "associateParentEntity", "createable", "custom",
            "customSetting", "deepCloneable", "deletable", "deprecatedAndHidden", "feedEnabled",
            "hasSubtypes", "isInterface", "isSubtype", "keyPrefix", "label", "labelPlural", "layoutable",
            "mergeable", "mruEnabled", "name", "queryable", "replicateable", "retrieveable", "searchable",
            "triggerable", "undeletable", "updateable",
        )  # fmt: skip
        entry: dict[str, Any] = {k: self.raw.get(k) for k in keys}
        base = f"/services/data/{version}/sobjects/{self.name}"
        entry["urls"] = {"rowTemplate": f"{base}/{{ID}}", "describe": f"{base}/describe", "sobject": base}
        if self.flag("listviewable") or self.flag("queryable"):
            entry["urls"]["listviews"] = f"{base}/listviews"
        return entry


class CustomFieldSpec(BaseModel):
    """A custom field declared in configuration (becomes a full describe field)."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=r"^[A-Za-z][A-Za-z0-9_]*__c$")
    label: str | None = None
    type: str = "string"
    length: int | None = None
    precision: int | None = None
    scale: int | None = None
    required: bool = False
    unique: bool = False
    externalId: bool = False
    caseSensitive: bool = False
    values: list[str] = Field(default_factory=list)
    default: Any = None
    restricted: bool = False
    referenceTo: list[str] = Field(default_factory=list)
    relationshipName: str | None = None
    childRelationshipName: str | None = None
    cascadeDelete: bool = False


class NameFieldSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    label: str = "Name"
    length: int = 80


class CustomObjectSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=r"^[A-Za-z][A-Za-z0-9_]*__c$")
    label: str
    labelPlural: str
    keyPrefix: str = Field(pattern=r"^[a-zA-Z0-9]{3}$")
    nameField: NameFieldSpec = Field(default_factory=NameFieldSpec)
    fields: list[CustomFieldSpec] = Field(default_factory=list)


class CustomConfig(BaseModel):
    """``custom.json``: custom objects, custom fields on standard objects, history tracking."""

    model_config = ConfigDict(extra="ignore")

    objects: list[CustomObjectSpec] = Field(default_factory=list)
    fields: dict[str, list[CustomFieldSpec]] = Field(default_factory=dict)
    history: dict[str, list[str]] = Field(default_factory=dict)


_SOAP = {
    "id": "tns:ID", "reference": "tns:ID", "boolean": "xsd:boolean", "int": "xsd:int",
    "double": "xsd:double", "currency": "xsd:double", "percent": "xsd:double", "date": "xsd:date",
    "datetime": "xsd:dateTime", "base64": "xsd:base64Binary", "time": "xsd:time",
}  # fmt: skip


class Schema:
    """All sObjects of the org, looked up case-insensitively by name and by key prefix."""

    def __init__(self, sobjects: dict[str, SObjectDef]) -> None:
        self.sobjects = sobjects
        self._by_lower = {name.lower(): s for name, s in sobjects.items()}
        self._by_prefix = {s.key_prefix: s for s in sobjects.values() if s.raw.get("keyPrefix")}

    def get(self, name: str) -> SObjectDef | None:
        return self._by_lower.get(name.lower())

    def by_prefix(self, prefix: str) -> SObjectDef | None:
        return self._by_prefix.get(prefix)

    def __iter__(self) -> Iterator[SObjectDef]:
        return iter(self.sobjects.values())


def _template_field() -> dict[str, Any]:
    acct = json.loads((METADATA_DIR / "sobjects" / "Account.json").read_text(encoding="utf-8"))
    return {k: v for k, v in next(f for f in acct["fields"] if f["name"] == "Site").items()}


def _custom_field(template: dict[str, Any], spec: CustomFieldSpec) -> dict[str, Any]:
    f = copy.deepcopy(template)
    t = "boolean" if spec.type == "checkbox" else spec.type
    text = t in TEXT_TYPES
    length = spec.length if spec.length is not None else (255 if text else 0)
    if t == "reference":
        length = 18
    f.update(
        name=spec.name,
        label=spec.label or spec.name.removesuffix("__c").replace("_", " "),
        type=t,
        custom=True,
        length=length,
        byteLength=length * 3 if text else (18 if t == "reference" else 0),
        precision=spec.precision
        if spec.precision is not None
        else (18 if t in ("double", "currency", "percent") else 0),
        scale=spec.scale if spec.scale is not None else (2 if t == "currency" else 0),
        digits=9 if t == "int" else 0,
        nillable=t != "boolean" and not spec.required,
        createable=True,
        updateable=True,
        defaultedOnCreate=t == "boolean" or spec.default is not None,
        defaultValue=spec.default if spec.default is not None else (False if t == "boolean" else None),
        externalId=spec.externalId,
        unique=spec.unique,
        idLookup=spec.externalId or spec.unique,
        caseSensitive=spec.caseSensitive,
        restrictedPicklist=spec.restricted,
        picklistValues=[
            {"active": True, "defaultValue": v == spec.default, "label": v, "validFor": None, "value": v}
            for v in spec.values
        ],
        referenceTo=list(spec.referenceTo),
        relationshipName=spec.relationshipName,
        relationshipOrder=None,
        soapType=_SOAP.get(t, "xsd:string"),
        filterable=t != "textarea" or length <= 255,
        sortable=t not in ("textarea", "multipicklist") or length <= 255,
        groupable=t not in ("double", "currency", "percent", "textarea", "datetime", "multipicklist"),
        aggregatable=t != "textarea" or length <= 255,
        permissionable=not spec.required,
        cascadeDelete=False,
        nameField=False,
    )
    return f


def _custom_object(template_field: dict[str, Any], spec: CustomObjectSpec) -> dict[str, Any]:
    base = json.loads((METADATA_DIR / "sobjects" / "Pricebook2.json").read_text(encoding="utf-8"))
    obj = {k: v for k, v in base.items() if k != "fields"}
    obj.update(
        name=spec.name,
        label=spec.label,
        labelPlural=spec.labelPlural,
        keyPrefix=spec.keyPrefix,
        custom=True,
        customSetting=False,
        createable=True,
        updateable=True,
        deletable=True,
        undeletable=True,
        queryable=True,
        searchable=True,
        layoutable=True,
        mergeable=False,
        feedEnabled=False,
        triggerable=True,
        supportedScopes=[{"label": f"All {spec.labelPlural.lower()}", "name": "everything"}],
    )
    std = {f["name"]: f for f in base["fields"]}
    fields = [copy.deepcopy(std["Id"])]
    owner = copy.deepcopy(std["CreatedById"])
    owner.update(
        name="OwnerId", label="Owner ID", relationshipName="Owner", createable=True, updateable=True,
        referenceTo=["User"], defaultedOnCreate=True,
    )  # fmt: skip
    fields += [owner, copy.deepcopy(std["IsDeleted"])]
    name = copy.deepcopy(std["Name"])
    name.update(
        label=spec.nameField.label, length=spec.nameField.length, byteLength=spec.nameField.length * 3
    )
    name.update(nillable=True, defaultedOnCreate=True)
    fields.append(name)
    for sysname in ("CreatedDate", "CreatedById", "LastModifiedDate", "LastModifiedById", "SystemModstamp"):
        fields.append(copy.deepcopy(std[sysname]))
    fields += [copy.deepcopy(std["LastViewedDate"]), copy.deepcopy(std["LastReferencedDate"])]
    fields += [_custom_field(template_field, fs) for fs in spec.fields]
    obj["fields"] = fields
    return obj


def load_schema(extra_config: Path | None = None) -> Schema:
    """Build the org's schema from the packaged describes, ``custom.json`` and an optional extra config."""
    raws: dict[str, dict[str, Any]] = {}
    for path in sorted((METADATA_DIR / "sobjects").glob("*.json")):
        raw = json.loads(path.read_text(encoding="utf-8"))
        raws[raw["name"]] = raw
    configs = [CustomConfig.model_validate_json((METADATA_DIR / "custom.json").read_text(encoding="utf-8"))]
    if extra_config is not None:
        configs.append(CustomConfig.model_validate_json(extra_config.read_text(encoding="utf-8")))
    template = _template_field()
    rel_names: dict[str, dict[str, Any]] = json.loads(
        (METADATA_DIR / "child_relationships.json").read_text(encoding="utf-8")
    )
    history: dict[str, list[str]] = {}
    for cfg in configs:
        for ospec in cfg.objects:
            raws[ospec.name] = _custom_object(template, ospec)
            for fspec in ospec.fields:
                if fspec.type == "reference" and fspec.childRelationshipName:
                    for target in fspec.referenceTo:
                        rel_names[f"{target}|{ospec.name}|{fspec.name}"] = {
                            "relationshipName": fspec.childRelationshipName,
                            "cascadeDelete": fspec.cascadeDelete,
                            "restrictedDelete": False,
                        }
        for obj_name, fspecs in cfg.fields.items():
            if obj_name not in raws:
                raise ValueError(f"custom fields declared on unknown sObject {obj_name}")
            existing = {f["name"] for f in raws[obj_name]["fields"]}
            for fspec in fspecs:
                if fspec.name in existing:
                    continue
                raws[obj_name]["fields"].append(_custom_field(template, fspec))
                if fspec.type == "reference" and fspec.childRelationshipName:
                    for target in fspec.referenceTo:
                        rel_names[f"{target}|{obj_name}|{fspec.name}"] = {
                            "relationshipName": fspec.childRelationshipName,
                            "cascadeDelete": fspec.cascadeDelete,
                            "restrictedDelete": False,
                        }
        for obj_name, tracked in cfg.history.items():
            history.setdefault(obj_name, [])
            history[obj_name] += [t for t in tracked if t not in history[obj_name]]
    sobjects: dict[str, SObjectDef] = {}
    for name, raw in raws.items():
        fields = {f["name"]: FieldDef.from_describe(f) for f in raw["fields"]}
        prefix = raw.get("keyPrefix") or (HISTORY_PREFIX if name.endswith("History") else "")
        sobjects[name] = SObjectDef(name=name, raw=raw, fields=fields, key_prefix=prefix)
    for child in sobjects.values():
        for f in child.fields.values():
            if f.type != "reference":
                continue
            for target in f.reference_to:
                parent = sobjects.get(target)
                if parent is None:
                    continue
                known = rel_names.get(f"{target}|{child.name}|{f.name}", {})
                parent.child_relationships.append(
                    {
                        "cascadeDelete": bool(known.get("cascadeDelete", False)),
                        "childSObject": child.name,
                        "deprecatedAndHidden": False,
                        "field": f.name,
                        "junctionIdListNames": [],
                        "junctionReferenceTo": [],
                        "relationshipName": known.get("relationshipName"),
                        "restrictedDelete": bool(known.get("restrictedDelete", False)),
                    }
                )
    for parent in sobjects.values():
        parent.child_relationships.sort(key=lambda r: (r["childSObject"], r["field"]))
    history_names = {
        "Account": "AccountHistory", "Opportunity": "OpportunityFieldHistory", "Case": "CaseHistory",
        "Contact": "ContactHistory",
    }  # fmt: skip
    for obj_name, tracked in history.items():
        sobj = sobjects.get(obj_name)
        if sobj is None:
            raise ValueError(f"history tracking declared on unknown sObject {obj_name}")
        for t in tracked:
            if sobj.field(t) is None:
                raise ValueError(f"history tracking of unknown field {obj_name}.{t}")
        hist = history_names.get(obj_name) or (obj_name.removesuffix("__c") + "__History")
        if hist not in sobjects:
            raise ValueError(f"no history object for {obj_name}")
        sobj.tracked_fields = tuple(sobj.field(t).name for t in tracked)  # type: ignore[union-attr]
        sobj.history_object = hist
    return Schema(sobjects)
