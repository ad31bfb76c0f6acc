"""Reading the SAM template: functions with Globals merged, routes with auth, schedules, parameters."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from devstack.cfn import TemplateError
from devstack.config import REPO_ROOT
from devstack.template import (
    IMPLICIT_API_ID,
    StackTemplate,
    parse_parameter_overrides,
    read_template,
    sam_merge,
)

TEMPLATE = textwrap.dedent(
    """
    Transform: AWS::Serverless-2016-10-31
    Parameters:
      LogLevel:
        Type: String
        Default: INFO
        AllowedValues: [DEBUG, INFO]
      Memory:
        Type: Number
        Default: 256
        MinValue: 128
    Globals:
      Function:
        Runtime: python3.13
        Timeout: 10
        MemorySize: !Ref Memory
        Layers: [!Ref Layer]
        Environment:
          Variables:
            TABLE_NAME: !Ref Table
            LEVEL: !Ref LogLevel
      Api:
        BinaryMediaTypes: ["application~1octet-stream"]
    Resources:
      Table:
        Type: AWS::DynamoDB::Table
        Properties: {}
      Api:
        Type: AWS::Serverless::Api
        Properties:
          StageName: v2
          Auth:
            DefaultAuthorizer: AWS_IAM
      Things:
        Type: AWS::Serverless::Function
        Properties:
          CodeUri: functions/things/
          Handler: app.lambda_handler
          Timeout: 20
          Layers: [extra]
          Environment:
            Variables:
              FAMILY: things
          Events:
            Create:
              Type: Api
              Properties: {RestApiId: !Ref Api, Path: "/things", Method: post}
            Callback:
              Type: Api
              Properties: {RestApiId: !Ref Api, Path: "/callback", Method: GET, Auth: {Authorizer: NONE}}
            Tick:
              Type: Schedule
              Properties: {Schedule: rate(5 minutes), Input: '{"a": 1}'}
            Nightly:
              Type: ScheduleV2
              Properties:
                ScheduleExpression: cron(0 2 * * ? *)
                ScheduleExpressionTimezone: Europe/Paris
            Stream:
              Type: DynamoDB
              Properties: {Stream: x, StartingPosition: LATEST}
      Implicit:
        Type: AWS::Serverless::Function
        Properties:
          CodeUri: functions/implicit
          Handler: pkg.module.handle
          FunctionName: !Sub "${AWS::StackName}-implicit"
          Events:
            Any:
              Type: Api
              Properties: {Path: "/{proxy+}", Method: any}
    """
)


def _read(tmp_path: Path, text: str = TEMPLATE, overrides: dict[str, str] | None = None) -> StackTemplate:
    path = tmp_path / "template.yaml"
    path.write_text(text)
    return read_template(
        path, stack_name="stk", region="us-east-1", account_id="123456789012", parameter_overrides=overrides
    )


def test_functions_get_globals_merged_like_sam(tmp_path: Path) -> None:
    template = _read(tmp_path)
    things = template.functions["Things"]
    assert things.timeout_s == 20  # the function's own value wins
    assert things.memory_mb == 256  # from Globals, through !Ref of a Number parameter
    assert things.code_dir == (tmp_path / "functions/things").resolve()
    assert things.function_name == "stk-Things"
    # Environment maps merge, the function's keys added to the Globals' ones.
    assert set(things.environment) == {"TABLE_NAME", "LEVEL", "FAMILY"}
    assert things.environment["TABLE_NAME"] == {"Ref": "Table"}  # resolved later against moto
    implicit = template.functions["Implicit"]
    assert implicit.function_name == "stk-implicit"
    assert (implicit.handler_module, implicit.handler_attribute) == ("pkg.module", "handle")


def test_routes_carry_api_method_and_auth(tmp_path: Path) -> None:
    template = _read(tmp_path)
    routes = {(r.method, r.path): r for r in template.routes}
    create = routes[("POST", "/things")]
    assert (create.api_id, create.function_id, create.auth) == ("Api", "Things", "AWS_IAM")
    assert routes[("GET", "/callback")].public
    proxy = routes[("ANY", "/{proxy+}")]
    assert proxy.api_id == IMPLICIT_API_ID
    apis = template.apis
    assert apis["Api"].stage_name == "v2"
    assert apis["Api"].binary_media_types == ("application/octet-stream",)
    assert apis[IMPLICIT_API_ID].stage_name == "Prod"


def test_schedules_and_unsupported_events(tmp_path: Path) -> None:
    template = _read(tmp_path)
    schedules = {s.event_name: s for s in template.schedules}
    assert schedules["Tick"].kind == "Schedule"
    assert schedules["Tick"].expression == "rate(5 minutes)"
    assert schedules["Tick"].input == '{"a": 1}'
    assert schedules["Nightly"].kind == "ScheduleV2"
    assert schedules["Nightly"].timezone == "Europe/Paris"
    assert template.unsupported_events == ("Things.Events.Stream (DynamoDB)",)


def test_parameter_overrides_are_validated(tmp_path: Path) -> None:
    template = _read(tmp_path, overrides={"LogLevel": "DEBUG"})
    assert template.parameters["LogLevel"] == "DEBUG"
    with pytest.raises(TemplateError, match="not one of"):
        _read(tmp_path, overrides={"LogLevel": "LOUD"})
    with pytest.raises(TemplateError, match="MinValue"):
        _read(tmp_path, overrides={"Memory": "64"})
    with pytest.raises(TemplateError, match="unknown parameters: Nope"):
        _read(tmp_path, overrides={"Nope": "1"})


def test_parse_parameter_overrides_like_sam() -> None:
    assert parse_parameter_overrides("A=1 B=\"two words\" C='x'") == {"A": "1", "B": "two words", "C": "x"}
    with pytest.raises(TemplateError, match="Key=Value"):
        parse_parameter_overrides("justtext")


def test_sam_merge_rules() -> None:
    merged = sam_merge(
        {"Env": {"A": "1", "B": "1"}, "Layers": ["g"], "Timeout": 3, "X": {"Ref": "P"}},
        {"Env": {"B": "2"}, "Layers": ["l"], "Timeout": 9, "X": {"Ref": "Q"}},
    )
    assert merged == {"Env": {"A": "1", "B": "2"}, "Layers": ["g", "l"], "Timeout": 9, "X": {"Ref": "Q"}}


def test_bad_route_definitions_are_reported(tmp_path: Path) -> None:
    bad = TEMPLATE.replace('Path: "/things"', 'Path: "things"')
    with pytest.raises(TemplateError, match="Path must start with '/'"):
        _read(tmp_path, bad)


def test_the_repository_template_is_readable() -> None:
    template = read_template(
        REPO_ROOT / "template.yaml", stack_name="stk", region="us-east-1", account_id="123456789012"
    )
    assert template.functions, "template.yaml declares functions"
    for route in template.routes:
        assert route.function_id in template.functions
        assert route.api_id in template.apis
    # The OAuth callback is the one public route (Salesforce redirects a browser there).
    public = [r.path for r in template.routes if r.public]
    assert public == ["/oauth/callback"]
    # A failed poll cycle's record goes to the failure queue (the local stack delivers it too).
    assert template.functions["PollerFunction"].on_failure == {"Fn::GetAtt": ["PollerFailureQueue", "Arn"]}
    assert [f for f in template.functions.values() if f.on_failure is not None] == [
        template.functions["PollerFunction"]
    ]
