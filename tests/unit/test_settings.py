"""Settings are read when asked (not at import) and name every missing or invalid variable."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from devstack.cfn import load_template
from pydantic import Field
from sfconnector.settings import CoreSettings, EnvSettings, SettingsError

from tests.fixtures.aws import AwsEnv

ROOT = Path(__file__).resolve().parents[2]

GOOD = {
    "TABLE_NAME": "stack-StateTable-1ABC",
    "TOPIC_ARN": "arn:aws:sns:eu-west-1:123456789012:stack-trigger-events",
    "PAYLOAD_BUCKET": "stack-payloadbucket-xyz",
    "SECRET_PREFIX": "stack/connections/",
    "AWS_REGION": "eu-west-1",
}


def test_reads_the_variables() -> None:
    settings = CoreSettings.from_env(GOOD)
    assert settings.table_name == "stack-StateTable-1ABC"
    assert settings.topic_arn.endswith(":stack-trigger-events")
    assert settings.payload_bucket == "stack-payloadbucket-xyz"
    assert settings.secret_prefix == "stack/connections/"
    assert settings.aws_region == "eu-west-1"
    assert settings.describe_ttl_seconds == 900


def test_every_missing_variable_is_named() -> None:
    with pytest.raises(SettingsError) as caught:
        CoreSettings.from_env({"TABLE_NAME": "t-1", "PAYLOAD_BUCKET": "  "})
    message = str(caught.value)
    for name in ("TOPIC_ARN", "PAYLOAD_BUCKET", "SECRET_PREFIX", "AWS_REGION"):
        assert name in message
        assert name in caught.value.missing
    assert "TABLE_NAME" not in message


def test_invalid_values_are_named_with_the_reason() -> None:
    with pytest.raises(SettingsError) as caught:
        CoreSettings.from_env({**GOOD, "TOPIC_ARN": "my-topic", "DESCRIBE_CACHE_TTL_SECONDS": "soon"})
    assert set(caught.value.invalid) == {"TOPIC_ARN", "DESCRIBE_CACHE_TTL_SECONDS"}
    assert "SNS topic ARN" in str(caught.value)
    assert caught.value.missing == []


def test_region_falls_back_to_aws_default_region() -> None:
    env = {k: v for k, v in GOOD.items() if k != "AWS_REGION"} | {"AWS_DEFAULT_REGION": "us-west-2"}
    assert CoreSettings.from_env(env).aws_region == "us-west-2"


def test_nothing_is_read_or_opened_at_import() -> None:
    # A clean interpreter with none of the variables and no AWS credentials imports every module.
    env = {"PATH": os.environ.get("PATH", ""), "PYTHONPATH": os.pathsep.join(sys.path)}
    code = (
        "import sfconnector.settings, sfconnector.stores.tokens, sfconnector.stores.connections; "
        "import sfconnector.salesforce; "
        "from sfconnector.salesforce import client; assert client._shared_http is None; "
        "from sfconnector.settings import CoreSettings, SettingsError\n"
        "try:\n    CoreSettings.from_env()\nexcept SettingsError as e:\n    print(e)"
    )
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "TABLE_NAME" in result.stdout


def test_fixture_environment_is_complete(aws: AwsEnv) -> None:
    settings = CoreSettings.from_env()
    assert (settings.table_name, settings.topic_arn, settings.payload_bucket, settings.secret_prefix) == (
        aws.table_name,
        aws.topic_arn,
        aws.bucket,
        aws.secret_prefix,
    )
    assert settings.aws_region == aws.region


def test_variable_names_match_template_globals() -> None:
    template = load_template(ROOT / "template.yaml")
    global_vars = set(template["Globals"]["Function"]["Environment"]["Variables"])
    required = {
        CoreSettings.env_var(name) for name, f in CoreSettings.model_fields.items() if f.is_required()
    }
    assert required - {"AWS_REGION"} <= global_vars  # AWS_REGION is set by Lambda itself


def test_other_parts_can_declare_their_own_settings() -> None:
    class PollerSettings(EnvSettings):
        lookback_seconds: int = Field(300, alias="POLL_LOOKBACK_SECONDS", ge=0)
        schedule_group: str = Field(alias="SCHEDULE_GROUP")

    assert PollerSettings.from_env({"SCHEDULE_GROUP": "g"}).lookback_seconds == 300
    assert (
        PollerSettings.from_env({"SCHEDULE_GROUP": "g", "POLL_LOOKBACK_SECONDS": "60"}).lookback_seconds == 60
    )
    with pytest.raises(SettingsError, match=re.escape("SCHEDULE_GROUP")):
        PollerSettings.from_env({})
