"""The local stack's configuration: environment variables, validated, with every error named."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from devstack.cfn import TemplateError
from devstack.template import parse_parameter_overrides

DEFAULT_API_PORT = 3000  # the port `sam local start-api` uses
DEFAULT_SF_EMULATOR_PORT = 8900
DEFAULT_MOTO_PORT = 5050  # not moto's 5000: macOS's AirPlay receiver listens there

REPO_ROOT = Path(__file__).resolve().parents[2]

# Environment variable -> field, in the order the documentation lists them.
ENV_VARS = {
    "API_PORT": "api_port",
    "SF_EMULATOR_PORT": "sf_emulator_port",
    "MOTO_PORT": "moto_port",
    "SCHEDULE_SPEEDUP": "schedule_speedup",
    "STACK_NAME": "stack_name",
    "TEMPLATE": "template",
    "PARAMETER_OVERRIDES": "parameter_overrides",
    "ENV_VARS_FILE": "env_vars_file",
    "DEMO_CONNECTION": "demo_connection",
    "ENFORCE_IAM": "enforce_iam",
    "REALTIME": "realtime",
}


class ConfigError(ValueError):
    """The environment configures the stack wrongly; the message names the variable."""


class StackConfig(BaseModel):
    """Everything ``python -m devstack`` reads from the environment."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    host: str = "127.0.0.1"
    api_port: int = Field(DEFAULT_API_PORT, ge=0, le=65535)
    sf_emulator_port: int = Field(DEFAULT_SF_EMULATOR_PORT, ge=0, le=65535)
    moto_port: int = Field(DEFAULT_MOTO_PORT, ge=0, le=65535)
    schedule_speedup: float = Field(1.0, gt=0, le=86_400)
    stack_name: str = Field("sfconnector-local", pattern=r"^[A-Za-z][A-Za-z0-9-]{0,100}$")
    region: str = "us-east-1"
    account_id: str = "123456789012"  # moto's default account
    template: Path = REPO_ROOT / "template.yaml"
    parameter_overrides: dict[str, str] = Field(default_factory=dict)
    env_vars_file: Path | None = None
    demo_connection: bool = True
    enforce_iam: bool = True
    realtime: bool = True
    """The demo connection relays its objects through Event Relay (``REALTIME=0``: polling only)."""
    """Each function runs with its template role's credentials and moto enforces IAM (actions)."""

    @field_validator("parameter_overrides", mode="before")
    @classmethod
    def _overrides(cls, value: Any) -> Any:
        if isinstance(value, str):
            try:
                return parse_parameter_overrides(value)
            except TemplateError as exc:
                raise ValueError(str(exc)) from None
        return value

    @field_validator("demo_connection", "enforce_iam", "realtime", mode="before")
    @classmethod
    def _flag(cls, value: Any) -> Any:
        if isinstance(value, str):
            lowered = value.strip().lower()
            if lowered in {"1", "true", "yes", "on"}:
                return True
            if lowered in {"0", "false", "no", "off"}:
                return False
            raise ValueError("use 1/0, true/false, yes/no or on/off")
        return value

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> StackConfig:
        data = {field: env[var] for var, field in ENV_VARS.items() if env.get(var, "").strip()}
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            names = {field: var for var, field in ENV_VARS.items()}
            problems = [
                f"{names.get(str(e['loc'][0]), str(e['loc'][0])) if e['loc'] else '?'}: {e['msg']}"
                for e in exc.errors()
            ]
            raise ConfigError("invalid configuration: " + "; ".join(problems)) from None

    def function_env_overrides(self) -> dict[str, dict[str, str]]:
        """``ENV_VARS_FILE`` in ``sam local``'s format: ``{"Parameters": {...}, "<Function>": {...}}``."""
        if self.env_vars_file is None:
            return {}
        try:
            data = json.loads(self.env_vars_file.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise ConfigError(f"ENV_VARS_FILE {self.env_vars_file}: {exc}") from None
        if not isinstance(data, dict) or not all(isinstance(v, dict) for v in data.values()):
            raise ConfigError(f"ENV_VARS_FILE {self.env_vars_file}: expected {{name: {{VAR: value}}}}")
        return {name: {str(k): str(v) for k, v in values.items()} for name, values in data.items()}
