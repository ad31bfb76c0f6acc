"""CloudFormation template reading: a YAML loader for the short-form tags and an intrinsic resolver.

``!Ref X`` / ``!Sub ...`` / ``!GetAtt A.B`` and friends are read into their long JSON form
(``{"Ref": "X"}``, ``{"Fn::Sub": ...}``, ``{"Fn::GetAtt": ["A", "B"]}``) so that the rest of the
stack handles one shape only, whichever form the template author chose.

The resolver evaluates those intrinsics against a :class:`ResolveContext` (parameter values, pseudo
parameters, conditions, mappings, and the physical ids / attributes of resources that exist in moto).
Anything it cannot resolve raises :class:`TemplateError` naming where in the template it happened:
a silently half-resolved value would surface much later as a confusing handler error.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

# The short tags CloudFormation accepts and the long form each stands for.
_FN_TAGS = {
    "Base64",
    "Cidr",
    "FindInMap",
    "GetAtt",
    "GetAZs",
    "ImportValue",
    "Join",
    "Select",
    "Split",
    "Sub",
    "Transform",
    "And",
    "Equals",
    "If",
    "Not",
    "Or",
    "Length",
    "ToJsonString",
}


class TemplateError(ValueError):
    """The template cannot be read or one of its values cannot be resolved locally."""


class _CfnLoader(yaml.SafeLoader):
    """SafeLoader that understands CloudFormation's short-form intrinsic tags."""


def _construct_tag(loader: yaml.SafeLoader, tag_suffix: str, node: yaml.Node) -> dict[str, Any]:
    value: Any
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    elif isinstance(node, yaml.MappingNode):
        value = loader.construct_mapping(node, deep=True)
    else:  # pragma: no cover - yaml has no other node kinds
        raise TemplateError(f"unsupported node for !{tag_suffix}")
    if tag_suffix == "Ref":
        return {"Ref": value}
    if tag_suffix == "Condition":
        return {"Condition": value}
    if tag_suffix == "GetAtt" and isinstance(value, str):
        # !GetAtt Resource.Attribute.With.Dots -> the first dot separates the logical id.
        logical_id, _, attribute = value.partition(".")
        if not attribute:
            raise TemplateError(f"!GetAtt {value!r} must be 'Resource.Attribute'")
        return {"Fn::GetAtt": [logical_id, attribute]}
    if tag_suffix not in _FN_TAGS:
        raise TemplateError(f"unknown CloudFormation tag !{tag_suffix}")
    return {f"Fn::{tag_suffix}": value}


_CfnLoader.add_multi_constructor("!", _construct_tag)


def load_template_text(text: str) -> dict[str, Any]:
    """Parse a CloudFormation/SAM template (YAML or JSON) into plain Python data."""
    try:
        data = yaml.load(text, Loader=_CfnLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as exc:
        raise TemplateError(f"template is not valid YAML: {exc}") from exc
    if not isinstance(data, dict) or not isinstance(data.get("Resources"), dict):
        raise TemplateError("template must be a mapping with a Resources section")
    return data


def load_template(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise TemplateError(f"cannot read template {path}: {exc}") from exc
    return load_template_text(text)


class _NoValue:
    """``AWS::NoValue``: the property is removed from its containing mapping or list."""

    def __repr__(self) -> str:
        return "AWS::NoValue"


NO_VALUE = _NoValue()

RefLookup = Callable[[str], Any]
AttLookup = Callable[[str, str], Any]


@dataclass
class ResolveContext:
    """What the intrinsic functions of one template resolve against."""

    stack_name: str
    region: str
    account_id: str
    parameters: Mapping[str, Any] = field(default_factory=dict)
    mappings: Mapping[str, Any] = field(default_factory=dict)
    conditions: Mapping[str, Any] = field(default_factory=dict)
    ref_resource: RefLookup | None = None
    get_att: AttLookup | None = None
    _condition_cache: dict[str, bool] = field(default_factory=dict)

    def pseudo(self, name: str) -> Any:
        values: dict[str, Any] = {
            "AWS::StackName": self.stack_name,
            "AWS::Region": self.region,
            "AWS::AccountId": self.account_id,
            "AWS::Partition": "aws",
            "AWS::URLSuffix": "amazonaws.com",
            "AWS::StackId": (
                f"arn:aws:cloudformation:{self.region}:{self.account_id}:stack/{self.stack_name}/local"
            ),
            "AWS::NotificationARNs": [],
            "AWS::NoValue": NO_VALUE,
        }
        if name not in values:
            raise TemplateError(f"unknown pseudo parameter {name}")
        return values[name]

    def condition(self, name: str) -> bool:
        if name in self._condition_cache:
            return self._condition_cache[name]
        if name not in self.conditions:
            raise TemplateError(f"unknown condition {name!r}")
        value = resolve(self.conditions[name], self, f"Conditions.{name}")
        if not isinstance(value, bool):
            raise TemplateError(f"condition {name!r} does not evaluate to a boolean")
        self._condition_cache[name] = value
        return value

    def ref(self, name: str) -> Any:
        if name.startswith("AWS::"):
            return self.pseudo(name)
        if name in self.parameters:
            return self.parameters[name]
        if self.ref_resource is None:
            raise TemplateError(f"!Ref {name}: resources are not available in this context")
        return self.ref_resource(name)

    def att(self, logical_id: str, attribute: str) -> Any:
        if self.get_att is None:
            raise TemplateError(f"!GetAtt {logical_id}.{attribute}: resources are not available here")
        return self.get_att(logical_id, attribute)


_SUB_VAR = re.compile(r"\$\{([^}]*)\}")


def _stringify(value: Any, where: str) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str | int | float):
        return str(value)
    raise TemplateError(f"{where}: cannot substitute a {type(value).__name__} into a string")


def _sub(template: str, variables: Mapping[str, Any], ctx: ResolveContext, where: str) -> str:
    def replace(match: re.Match[str]) -> str:
        name = match.group(1).strip()
        if name.startswith("!"):
            # ${!Literal} is CloudFormation's escape for a literal "${Literal}".
            return "${" + name[1:] + "}"
        if name in variables:
            return _stringify(variables[name], where)
        if "." in name and not name.startswith("AWS::"):
            logical_id, _, attribute = name.partition(".")
            return _stringify(ctx.att(logical_id, attribute), where)
        return _stringify(ctx.ref(name), where)

    return _SUB_VAR.sub(replace, template)


def _fn_sub(arg: Any, ctx: ResolveContext, where: str) -> str:
    if isinstance(arg, str):
        return _sub(arg, {}, ctx, where)
    if isinstance(arg, list) and len(arg) == 2 and isinstance(arg[0], str) and isinstance(arg[1], dict):
        variables = {k: resolve(v, ctx, f"{where}.{k}") for k, v in arg[1].items()}
        return _sub(arg[0], variables, ctx, where)
    raise TemplateError(f"{where}: Fn::Sub takes a string or [string, {{variables}}]")


def _fn_get_att(arg: Any, ctx: ResolveContext, where: str) -> Any:
    if isinstance(arg, str):
        arg = arg.split(".", 1)
    if not (isinstance(arg, list) and len(arg) == 2):
        raise TemplateError(f"{where}: Fn::GetAtt takes [LogicalId, Attribute]")
    logical_id = resolve(arg[0], ctx, where)
    attribute = resolve(arg[1], ctx, where)
    return ctx.att(str(logical_id), str(attribute))


def _fn_join(arg: Any, ctx: ResolveContext, where: str) -> str:
    if not (isinstance(arg, list) and len(arg) == 2):
        raise TemplateError(f"{where}: Fn::Join takes [delimiter, [values]]")
    delimiter = resolve(arg[0], ctx, where)
    values = resolve(arg[1], ctx, where)
    if not isinstance(values, list):
        raise TemplateError(f"{where}: Fn::Join needs a list of values")
    return str(delimiter).join(_stringify(v, where) for v in values)


def _fn_select(arg: Any, ctx: ResolveContext, where: str) -> Any:
    if not (isinstance(arg, list) and len(arg) == 2):
        raise TemplateError(f"{where}: Fn::Select takes [index, [values]]")
    index = int(resolve(arg[0], ctx, where))
    values = resolve(arg[1], ctx, where)
    if not isinstance(values, list) or not 0 <= index < len(values):
        raise TemplateError(f"{where}: Fn::Select index {index} is out of range")
    return values[index]


def _fn_split(arg: Any, ctx: ResolveContext, where: str) -> list[str]:
    if not (isinstance(arg, list) and len(arg) == 2):
        raise TemplateError(f"{where}: Fn::Split takes [delimiter, string]")
    return str(resolve(arg[1], ctx, where)).split(str(resolve(arg[0], ctx, where)))


def _fn_if(arg: Any, ctx: ResolveContext, where: str) -> Any:
    if not (isinstance(arg, list) and len(arg) == 3 and isinstance(arg[0], str)):
        raise TemplateError(f"{where}: Fn::If takes [condition, when_true, when_false]")
    return resolve(arg[1] if ctx.condition(arg[0]) else arg[2], ctx, where)


def _fn_equals(arg: Any, ctx: ResolveContext, where: str) -> bool:
    if not (isinstance(arg, list) and len(arg) == 2):
        raise TemplateError(f"{where}: Fn::Equals takes two values")
    left, right = (resolve(v, ctx, where) for v in arg)
    return bool(_stringify(left, where) == _stringify(right, where))


def _booleans(arg: Any, ctx: ResolveContext, where: str) -> list[bool]:
    if not isinstance(arg, list):
        raise TemplateError(f"{where}: expected a list of conditions")
    values = [resolve(v, ctx, where) for v in arg]
    if not all(isinstance(v, bool) for v in values):
        raise TemplateError(f"{where}: conditions must evaluate to booleans")
    return values


def _fn_find_in_map(arg: Any, ctx: ResolveContext, where: str) -> Any:
    if not (isinstance(arg, list) and len(arg) in (3, 4)):
        raise TemplateError(f"{where}: Fn::FindInMap takes [map, top key, second key]")
    name, top, second = (str(resolve(v, ctx, where)) for v in arg[:3])
    try:
        return ctx.mappings[name][top][second]
    except (KeyError, TypeError):
        if len(arg) == 4 and isinstance(arg[3], dict) and "DefaultValue" in arg[3]:
            return resolve(arg[3]["DefaultValue"], ctx, where)
        raise TemplateError(f"{where}: no mapping value {name}.{top}.{second}") from None


def _fn_condition(arg: Any, ctx: ResolveContext, where: str) -> bool:
    return ctx.condition(str(arg))


def _fn_not(arg: Any, ctx: ResolveContext, where: str) -> bool:
    values = _booleans(arg, ctx, where)
    if len(values) != 1:
        raise TemplateError(f"{where}: Fn::Not takes one condition")
    return not values[0]


_FUNCTIONS: dict[str, Callable[[Any, ResolveContext, str], Any]] = {
    "Fn::Sub": _fn_sub,
    "Fn::GetAtt": _fn_get_att,
    "Fn::Join": _fn_join,
    "Fn::Select": _fn_select,
    "Fn::Split": _fn_split,
    "Fn::If": _fn_if,
    "Fn::Equals": _fn_equals,
    "Fn::Not": _fn_not,
    "Fn::And": lambda a, c, w: all(_booleans(a, c, w)),
    "Fn::Or": lambda a, c, w: any(_booleans(a, c, w)),
    "Fn::FindInMap": _fn_find_in_map,
    "Fn::Base64": lambda a, c, w: base64.b64encode(str(resolve(a, c, w)).encode()).decode(),
    "Fn::GetAZs": lambda a, c, w: [f"{c.region}{z}" for z in "abc"],
    "Fn::Length": lambda a, c, w: len(resolve(a, c, w)),
    "Condition": _fn_condition,
}


def resolve(value: Any, ctx: ResolveContext, where: str = "") -> Any:
    """Evaluate every intrinsic function inside ``value``; ``AWS::NoValue`` entries are dropped."""
    if isinstance(value, dict):
        if len(value) == 1:
            ((key, arg),) = value.items()
            if key == "Ref":
                return ctx.ref(str(resolve(arg, ctx, where)))
            if key in _FUNCTIONS:
                return _FUNCTIONS[key](arg, ctx, where or key)
            if key.startswith("Fn::"):
                raise TemplateError(f"{where or key}: {key} is not supported by the local stack")
        out: dict[str, Any] = {}
        for k, v in value.items():
            resolved = resolve(v, ctx, f"{where}.{k}" if where else str(k))
            if resolved is not NO_VALUE:
                out[k] = resolved
        return out
    if isinstance(value, list):
        items = [resolve(v, ctx, f"{where}[{i}]") for i, v in enumerate(value)]
        return [v for v in items if v is not NO_VALUE]
    return value


def references(value: Any) -> set[str]:
    """Logical ids a (not yet resolved) value refers to through Ref, GetAtt or Sub."""
    found: set[str] = set()
    if isinstance(value, dict):
        for key, arg in value.items():
            if key == "Ref" and isinstance(arg, str) and not arg.startswith("AWS::"):
                found.add(arg)
            elif key == "Fn::GetAtt":
                target = arg.split(".", 1)[0] if isinstance(arg, str) else arg[0]
                if isinstance(target, str):
                    found.add(target)
            elif key == "Fn::Sub":
                text = arg if isinstance(arg, str) else arg[0] if isinstance(arg, list) and arg else ""
                local = (
                    set(arg[1])
                    if isinstance(arg, list) and len(arg) > 1 and isinstance(arg[1], dict)
                    else set()
                )
                for match in _SUB_VAR.finditer(str(text)):
                    name = match.group(1).strip()
                    if not name.startswith(("!", "AWS::")) and name.split(".", 1)[0] not in local:
                        found.add(name.split(".", 1)[0])
            found |= references(arg)
    elif isinstance(value, list):
        for item in value:
            found |= references(item)
    return found
