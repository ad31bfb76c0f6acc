"""Time and error size of the request bodies a JSON parser takes but the connector must refuse.

The accounts function's resolver (request validation and the one error mapping) answers each body
in-process; nothing reaches AWS or Salesforce (every body is refused before the handler runs), so
no moto or emulator is needed. Prints, per body: status, error code, milliseconds, error bytes.
Never asserts on time.

    python bench/bench_bodies.py [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import time
import uuid
from typing import Any

BODIES: dict[str, str] = {
    "100,000 field names (1.8 MB)": json.dumps({f"Field_{i}_With_A_Long_Name__c": i for i in range(100_000)}),
    "5,000-digit integer": '{"Name": "Acme", "NumberOfEmployees": ' + "9" * 5000 + "}",
    "nested 100,000 deep": "[" * 100_000 + "]" * 100_000,
    "lone surrogate": '{"Name": "\\ud800"}',
    "500 bad field names": json.dumps({f"bad-name-{i}": 1 for i in range(500)}),
}


def _event(body: str) -> dict[str, Any]:
    path = "/connections/conn-bench/accounts"
    headers = {"Content-Type": "application/json", "Host": "api.example.test"}
    return {
        "resource": "/connections/{connection_id}/accounts",
        "path": path,
        "httpMethod": "POST",
        "headers": headers,
        "multiValueHeaders": {k: [v] for k, v in headers.items()},
        "queryStringParameters": None,
        "multiValueQueryStringParameters": None,
        "pathParameters": {"connection_id": "conn-bench"},
        "stageVariables": None,
        "requestContext": {
            "resourcePath": "/connections/{connection_id}/accounts",
            "httpMethod": "POST",
            "path": f"/v1{path}",
            "stage": "v1",
            "requestId": str(uuid.uuid4()),
            "identity": {"sourceIp": "127.0.0.1"},
        },
        "body": body,
        "isBase64Encoded": False,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    from sfconnector.api.app import build_family_app

    app = build_family_app("accounts")
    context: Any = None  # the resolver only keeps it; no Lambda context is needed in-process
    print(f"{'body':32} {'status':>6} {'code':24} {'best ms':>9} {'error bytes':>12}")
    for name, body in BODIES.items():
        best = float("inf")
        answer: dict[str, Any] = {}
        for _ in range(args.repeat):
            started = time.perf_counter()
            answer = app.resolve(_event(body), context)
            best = min(best, time.perf_counter() - started)
        error = json.loads(answer.get("body") or "{}").get("error", {})
        print(
            f"{name:32} {answer['statusCode']:>6} {error.get('code', '?'):24} "
            f"{best * 1000:>9.1f} {len(answer.get('body') or ''):>12}"
        )


if __name__ == "__main__":
    main()
