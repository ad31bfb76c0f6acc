"""The OpenAPI document fuzzed against the real handlers (schemathesis): the whole document,
every phase but the stateful one (the document has no links), positive and negative data, every
check schemathesis has but ``ignored_auth``.

``ignored_auth`` is left out because authentication is API Gateway's (IAM, SigV4): neither the
local stack nor these tests check signatures, so "a request without a signature was served" is
true here by construction and says nothing about the deployed API.

Expected: no server error, no response outside its documented schema, no undocumented status,
and no schema-valid request refused, except by the rules listed in docs/api.md ("What the
document cannot say"): those rejections carry one of :data:`RULES_BEYOND_THE_SCHEMA`'s codes.

Size: ``API_FUZZ_EXAMPLES`` cases per operation and phase (default 20, about three minutes for the 110
operations); ``make fuzz`` runs 100. CI (``HYPOTHESIS_PROFILE=ci``) uses a fixed seed.
"""

from __future__ import annotations

import json
import os
import re
from collections import Counter
from typing import Any

import schemathesis
from schemathesis.specs.openapi.checks import ignored_auth
from sfconnector.api.endpoints import CONNECTION_ID_PATTERN
from sfconnector.api.meta import openapi_document

from tests.contract.conftest import API_APP, CONNECTION_ID, RULES_BEYOND_THE_SCHEMA, ContractEnv

EXAMPLES = int(os.environ.get("API_FUZZ_EXAMPLES", "20"))
DETERMINISTIC = os.environ.get("HYPOTHESIS_PROFILE") == "ci"


CONFIG = schemathesis.Config.from_dict(
    {
        **({"seed": 20261202} if DETERMINISTIC else {}),
        "generation": {
            "mode": "all",
            "max-examples": EXAMPLES,
            "deterministic": DETERMINISTIC,
            **({"database": "none"} if DETERMINISTIC else {}),
            # Authentication is left aside (see the module doc): no SigV4 header, present or missing.
            "with-security-parameters": False,
        },
        "phases": {
            "examples": {"enabled": True},
            "coverage": {"enabled": True},
            "fuzzing": {"enabled": True},
            "stateful": {"enabled": False},
        },
    }
)
schema = schemathesis.openapi.from_dict(openapi_document(), config=CONFIG)
schema.app = API_APP
# The browser's landing page of the OAuth flow answers HTML pages for every outcome (documented);
# fuzzing it would only exercise the state check, which tests/integration/connections cover.
schema = schema.exclude(path="/oauth/callback")

_CONNECTION = re.compile(CONNECTION_ID_PATTERN)


class Tally:
    """What the run did: cases, statuses and failures by check (printed at the end)."""

    def __init__(self) -> None:
        self.cases = 0
        self.modes: Counter[str] = Counter()
        self.statuses: Counter[int] = Counter()
        self.failures: Counter[str] = Counter()
        self.rejected: Counter[str] = Counter()

    def summary(self) -> str:
        failures = ", ".join(f"{k}: {v}" for k, v in sorted(self.failures.items())) or "none"
        return (
            f"API fuzz: {self.cases} cases ({dict(self.modes)}), {EXAMPLES} examples per operation and "
            f"phase; statuses {dict(sorted(self.statuses.items()))}; failures by check: {failures}; "
            f"schema-valid requests refused by rules beyond the schema: {dict(self.rejected)}"
        )


TALLY = Tally()


def _error_code(response: Any) -> str | None:
    try:
        body = json.loads(response.content or b"null")
    except ValueError:
        return None
    error = body.get("error") if isinstance(body, dict) else None
    return str(error.get("code")) if isinstance(error, dict) else None


@schemathesis.check
def refused_only_by_rules_beyond_the_schema(ctx: Any, response: Any, case: Any) -> bool | None:
    """A schema-valid request refused with 400/413/422 names a rule the document cannot express."""
    if case.meta is None or not case.meta.generation.mode.is_positive:
        return None
    if response.status_code not in (400, 413, 422):
        return None
    code = _error_code(response)
    if code not in RULES_BEYOND_THE_SCHEMA:
        raise AssertionError(
            f"A schema-valid request was refused with {response.status_code} {code}: the document "
            f"allows what the API refuses.\n{response.text[:600]}"
        )
    return True


# positive_data_acceptance: the statuses it accepts by default, plus the refusals by rules beyond
# the schema, which the check above pins to their codes.
schema.config.checks.positive_data_acceptance.expected_statuses = [
    "2xx", "401", "403", "404", "409", "429", "400", "413", "422",
]  # fmt: skip


# negative_data_rejection: its statuses plus API Gateway's refusals of an over-long URL or body.
schema.config.checks.negative_data_rejection.expected_statuses = [
    *schema.config.checks.negative_data_rejection.expected_statuses, "413", "414",
]  # fmt: skip


@schema.parametrize()
def test_the_api_keeps_its_documented_contract(case: Any, contract_env: ContractEnv) -> None:
    path = case.path_parameters or {}
    if _CONNECTION.match(str(path.get("connection_id", ""))):
        # Any well-formed connection id is the seeded connection, so that cases reach Salesforce.
        path["connection_id"] = CONNECTION_ID
    response = case.call()
    TALLY.cases += 1
    TALLY.modes[case.meta.generation.mode.value if case.meta else "?"] += 1
    TALLY.statuses[response.status_code] += 1
    if (
        case.meta is not None
        and case.meta.generation.mode.is_positive
        and response.status_code in (400, 413, 422)
    ):
        TALLY.rejected[str(_error_code(response))] += 1
    try:
        case.validate_response(
            response,
            excluded_checks=[ignored_auth],
            additional_checks=[refused_only_by_rules_beyond_the_schema],
        )
    except BaseException as exc:
        for failure in getattr(exc, "exceptions", [exc]):
            TALLY.failures[type(failure).__name__] += 1
        raise
