"""``python -m sfemulator`` (``make emulator``): run the emulator with its demo org until SIGINT/SIGTERM.

Prints the base URL and the demo Connected App's credentials, one per line::

    base_url: http://127.0.0.1:8900
    client_id: 3MVG9...
    client_secret: E4D2...
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
from pathlib import Path
from types import FrameType

from pydantic import SecretStr, ValidationError

from sfemulator.org import DEFAULT_REDIRECT_URIS, Org, OrgConfig
from sfemulator.server import EmulatorServer


def _env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise SystemExit(f"{name} must be an integer, got {raw!r}") from None


def _parser() -> argparse.ArgumentParser:
    env = os.environ.get
    p = argparse.ArgumentParser(
        prog="python -m sfemulator", description="Salesforce emulator (local development)"
    )
    p.add_argument(
        "--host", default=env("SF_EMULATOR_HOST", "127.0.0.1"), help="bind address (default 127.0.0.1)"
    )
    p.add_argument("--port", type=int, default=_env_int("SF_EMULATOR_PORT", 8900), help="port (0 = any free)")
    p.add_argument(
        "--state-file",
        default=env("SF_EMULATOR_STATE_FILE") or None,
        help="persist the org to this JSON file so it survives restarts (env SF_EMULATOR_STATE_FILE)",
    )
    p.add_argument("--org-id", default=env("SF_EMULATOR_ORG_ID") or None, help="the org id (00D...)")
    p.add_argument("--client-id", default=env("SF_EMULATOR_CLIENT_ID") or None, help="demo Connected App key")
    p.add_argument("--client-secret", default=env("SF_EMULATOR_CLIENT_SECRET") or None, help="its secret")
    p.add_argument(
        "--redirect-uri",
        action="append",
        default=[u for u in (env("SF_EMULATOR_REDIRECT_URIS") or "").split(",") if u],
        help="extra callback URL of the demo app (repeatable; env SF_EMULATOR_REDIRECT_URIS, comma list)",
    )
    p.add_argument(
        "--token-lifetime",
        type=int,
        default=_env_int("SF_EMULATOR_TOKEN_LIFETIME", 7200),
        help="access-token lifetime in seconds (env SF_EMULATOR_TOKEN_LIFETIME)",
    )
    p.add_argument(
        "--daily-api-limit",
        type=int,
        default=_env_int("SF_EMULATOR_DAILY_API_LIMIT", 15000),
        help="API calls/day",
    )
    p.add_argument(
        "--rotate-refresh-tokens",
        action="store_true",
        default=env("SF_EMULATOR_ROTATE_REFRESH_TOKENS", "").lower() in ("1", "true", "yes"),
        help="issue a new refresh token on every refresh (the old one stops working)",
    )
    p.add_argument(
        "--custom-config",
        default=env("SF_EMULATOR_CUSTOM_CONFIG") or None,
        help="extra custom objects/fields/history tracking (JSON, same shape as metadata/custom.json)",
    )
    p.add_argument(
        "--aws-endpoint-url",
        default=env("SF_EMULATOR_AWS_ENDPOINT_URL") or None,
        help="where Event Relay reaches EventBridge: a URL (moto server), 'default' (boto3's endpoints) or "
        "unset (no AWS: change events are stored, never sent); env SF_EMULATOR_AWS_ENDPOINT_URL",
    )
    p.add_argument("--verbose", action="store_true", help="log every request path")
    return p


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO, format="%(levelname)s %(message)s"
    )
    settings: dict[str, object] = {
        "redirect_uris": list(DEFAULT_REDIRECT_URIS)
        + [u for u in args.redirect_uri if u not in DEFAULT_REDIRECT_URIS],
        "access_token_lifetime_seconds": args.token_lifetime,
        "daily_api_limit": args.daily_api_limit,
        "refresh_token_rotation": args.rotate_refresh_tokens,
    }
    if args.org_id:
        settings["org_id"] = args.org_id
    if args.client_id:
        settings["client_id"] = args.client_id
    if args.client_secret:
        settings["client_secret"] = SecretStr(args.client_secret)
    if args.aws_endpoint_url:
        settings["aws_endpoint_url"] = args.aws_endpoint_url
    if args.custom_config:
        settings["custom_config"] = Path(args.custom_config)
    try:
        config = OrgConfig.model_validate(settings)
    except ValidationError as exc:
        print(f"invalid emulator settings: {exc}", file=sys.stderr)
        return 2
    try:
        server = EmulatorServer(
            Org(config),
            host=args.host,
            port=args.port,
            state_file=Path(args.state_file) if args.state_file else None,
        )
        server.start()
    except OSError as exc:
        print(f"cannot start the emulator on {args.host}:{args.port}: {exc}", file=sys.stderr)
        return 1
    except ValueError as exc:
        print(f"cannot load the emulator state: {exc}", file=sys.stderr)
        return 1
    stop = threading.Event()

    def _signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGINT, _signal)
    signal.signal(signal.SIGTERM, _signal)
    app = server.demo_connected_app
    print(f"base_url: {server.base_url}")
    print(f"client_id: {app.client_id}")
    print(f"client_secret: {app.client_secret}", flush=True)
    try:
        while not stop.wait(0.5):
            pass
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
