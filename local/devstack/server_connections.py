"""``python -m devstack.server_connections``: make server-to-server connections on the running local
stack (``make run``), as a platform team would against a real org, with no browser.

* ``--flow jwt_bearer`` (the default): generates an RSA key and its self-signed certificate, uploads
  the certificate to the emulator's demo Connected App (what *Use digital signatures* is in Setup)
  with the integration user pre-authorised, then ``POST /connections`` with the private key;
* ``--flow client_credentials``: the demo app already runs the client credentials flow as the
  integration user; ``POST /connections`` with its key and secret and the emulator as My Domain.

Prints the connection the API answered (never the key). Dev only: it talks to the loopback stack.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from dataclasses import dataclass, field
from typing import Any

import httpx
from sfemulator.org import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET

__all__ = ["KeyPair", "connect", "main", "new_key_pair"]


@dataclass(frozen=True)
class KeyPair:
    private_key: str = field(repr=False)
    """PEM, PKCS#8, unencrypted."""
    certificate: str


def new_key_pair(label: str = "workflow-connector", bits: int = 2048) -> KeyPair:
    """What ``openssl req -x509 -newkey rsa:2048 -nodes`` makes: a key and its certificate."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import NameOID

    key = rsa.generate_private_key(public_exponent=65537, key_size=bits)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, label)])
    now = dt.datetime.now(dt.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=365))
        .sign(key, hashes.SHA256())
    )
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode("ascii")
    return KeyPair(pem, certificate.public_bytes(serialization.Encoding.PEM).decode("ascii"))


def _integration_username(emulator: httpx.Client) -> str:
    org = emulator.get("/__emulator__/org").raise_for_status().json()
    users = [u for u in org["users"] if u["active"]]
    # The seed's second user runs integrations (the demo app's client credentials Run As user).
    app: dict[str, Any] = next((a for a in org["apps"] if a["client_id"] == org["config"]["client_id"]), {})
    run_as = app.get("client_credentials_user_id")
    return str(next((u["username"] for u in users if u["id"] == run_as), users[1]["username"]))


def connect(
    flow: str,
    *,
    api_url: str,
    emulator_url: str,
    client_id: str = DEFAULT_CLIENT_ID,
    client_secret: str = DEFAULT_CLIENT_SECRET,
) -> dict[str, Any]:
    """One server-to-server connection on the local stack; returns the API's answer."""
    with httpx.Client(base_url=emulator_url, timeout=20) as emulator, httpx.Client(timeout=30) as api:
        body: dict[str, Any] = {"flow": flow, "client_id": client_id}
        if flow == "jwt_bearer":
            username = _integration_username(emulator)
            keys = new_key_pair()
            emulator.patch(
                f"/__emulator__/apps/{client_id}",
                json={"certificate": keys.certificate, "jwt_usernames": [username]},
            ).raise_for_status()
            body.update(
                name="integration (JWT bearer)",
                environment="production",  # the local stack's production login host is the emulator
                username=username,
                private_key=keys.private_key,
            )
        else:
            body.update(
                name="integration (client credentials)", environment=emulator_url, client_secret=client_secret
            )
        answer = api.post(f"{api_url.rstrip('/')}/connections", json=body)
        result: dict[str, Any] = answer.json()
        if answer.status_code != 201:
            raise SystemExit(f"POST /connections answered {answer.status_code}: {json.dumps(result)}")
        return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devstack.server_connections", description=__doc__)
    parser.add_argument("--flow", choices=("jwt_bearer", "client_credentials"), default="jwt_bearer")
    parser.add_argument("--api", default="http://127.0.0.1:3000", help="the local stack's API URL")
    parser.add_argument("--emulator", default="http://127.0.0.1:8900", help="the Salesforce emulator's URL")
    parser.add_argument("--client-id", default=DEFAULT_CLIENT_ID)
    parser.add_argument("--client-secret", default=DEFAULT_CLIENT_SECRET)
    args = parser.parse_args(argv)
    view = connect(
        args.flow,
        api_url=args.api,
        emulator_url=args.emulator,
        client_id=args.client_id,
        client_secret=args.client_secret,
    )
    sys.stdout.write(json.dumps(view, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
