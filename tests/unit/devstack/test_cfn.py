"""CloudFormation reading: short tags become long-form intrinsics; the resolver evaluates them."""

from __future__ import annotations

from typing import Any

import pytest
from devstack.cfn import ResolveContext, TemplateError, load_template_text, references, resolve


def _context(**overrides: Any) -> ResolveContext:
    resources = {"Table": "my-table", "Topic": "arn:aws:sns:us-east-1:123456789012:t"}
    attributes = {("Table", "Arn"): "arn:aws:dynamodb:us-east-1:123456789012:table/my-table"}
    values: dict[str, Any] = {
        "stack_name": "stk",
        "region": "eu-west-1",
        "account_id": "123456789012",
        "parameters": {"Stage": "v1", "Env": "prod"},
        "conditions": {"IsProd": {"Fn::Equals": [{"Ref": "Env"}, "prod"]}},
        "mappings": {"Sizes": {"prod": {"Memory": 1024}}},
        "ref_resource": lambda name: resources[name],
        "get_att": lambda name, att: attributes[(name, att)],
    }
    values.update(overrides)
    return ResolveContext(**values)


def test_short_tags_are_read_as_long_form_intrinsics() -> None:
    data = load_template_text(
        """
Resources:
  Fn:
    Properties:
      A: !Ref Table
      B: !Sub "${AWS::StackName}-x"
      C: !GetAtt Table.Arn
      D: !GetAtt [Table, StreamArn]
      E: !Join [",", [a, !Ref Stage]]
      F: !If [IsProd, 1, 2]
      G: !Select [0, !Split [",", "x,y"]]
"""
    )
    props = data["Resources"]["Fn"]["Properties"]
    assert props["A"] == {"Ref": "Table"}
    assert props["B"] == {"Fn::Sub": "${AWS::StackName}-x"}
    assert props["C"] == {"Fn::GetAtt": ["Table", "Arn"]}
    assert props["D"] == {"Fn::GetAtt": ["Table", "StreamArn"]}
    assert props["E"] == {"Fn::Join": [",", ["a", {"Ref": "Stage"}]]}
    assert props["F"] == {"Fn::If": ["IsProd", 1, 2]}
    assert props["G"] == {"Fn::Select": [0, {"Fn::Split": [",", "x,y"]}]}


def test_unknown_tag_and_missing_resources_are_errors() -> None:
    with pytest.raises(TemplateError, match="unknown CloudFormation tag !Bogus"):
        load_template_text("Resources:\n  X: !Bogus y\n")
    with pytest.raises(TemplateError, match="Resources section"):
        load_template_text("Parameters: {}\n")


def test_sub_resolves_parameters_pseudo_parameters_resources_and_attributes() -> None:
    ctx = _context()
    value = resolve(
        {"Fn::Sub": "${AWS::StackName}/${Stage}/${Table}/${Table.Arn}/${AWS::Region}/${AWS::AccountId}"}, ctx
    )
    assert (
        value
        == "stk/v1/my-table/arn:aws:dynamodb:us-east-1:123456789012:table/my-table/eu-west-1/123456789012"
    )


def test_sub_with_variable_map_and_literal_escape() -> None:
    ctx = _context()
    assert resolve({"Fn::Sub": ["${Name}-${!Literal}", {"Name": {"Ref": "Stage"}}]}, ctx) == "v1-${Literal}"


def test_conditions_if_and_no_value() -> None:
    ctx = _context()
    resolved = resolve(
        {
            "Keep": {"Fn::If": ["IsProd", "yes", "no"]},
            "Drop": {"Fn::If": ["IsProd", {"Ref": "AWS::NoValue"}, "x"]},
            "List": ["a", {"Ref": "AWS::NoValue"}, "b"],
            "Not": {"Fn::Not": [{"Condition": "IsProd"}]},
            "Map": {"Fn::FindInMap": ["Sizes", "prod", "Memory"]},
        },
        ctx,
    )
    assert resolved == {"Keep": "yes", "List": ["a", "b"], "Not": False, "Map": 1024}
    dev = _context(parameters={"Stage": "v1", "Env": "dev"})
    assert resolve({"Fn::If": ["IsProd", "yes", "no"]}, dev) == "no"


def test_unresolvable_reference_names_the_place() -> None:
    ctx = _context(ref_resource=None)
    with pytest.raises(TemplateError, match="Missing"):
        resolve({"Env": {"Var": {"Ref": "Missing"}}}, ctx, "Fn.Environment")
    with pytest.raises(TemplateError, match="not supported"):
        resolve({"Fn::Transform": {"Name": "x"}}, ctx)


def test_references_lists_logical_ids_used() -> None:
    value = {
        "A": {"Ref": "Table"},
        "B": {"Fn::Sub": "${Topic}-${AWS::Region}-${Bucket.Arn}-${!Skip}"},
        "C": {"Fn::GetAtt": ["Queue", "Arn"]},
        "D": {"Fn::Sub": ["${Local}", {"Local": {"Ref": "Role"}}]},
        "E": {"Ref": "AWS::StackName"},
    }
    assert references(value) == {"Table", "Topic", "Bucket", "Queue", "Role"}
