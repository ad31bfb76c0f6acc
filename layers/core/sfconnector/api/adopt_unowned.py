"""Upgrading a single-tenant deployment: give the connections created before tenancy an owner.

Run once with the stack's environment (``TABLE_NAME``, ``TOPIC_ARN``, ``PAYLOAD_BUCKET``,
``SECRET_PREFIX``, ``AWS_REGION``) and credentials allowed to tag the stack's secrets and update
its table (the connections function's role has both)::

    python -m sfconnector.api.adopt_unowned --tenant arn:aws:iam::123456789012:role/workflow-engine

Until then, ``UNOWNED_CONNECTIONS_TENANT`` makes the connections visible to that tenant; their
secrets are untagged, so the action functions (which read secrets only through the tenant-access
role) cannot use them before this runs. docs/security.md, "Tenants".
"""

from __future__ import annotations

import argparse


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tenant", required=True, help="the tenant id that adopts every unowned connection")
    args = parser.parse_args(argv)
    from sfconnector.runtime import get_runtime

    adopted = get_runtime().connection_admin.adopt_unowned(args.tenant)
    print(f"{len(adopted)} connection(s) adopted by {args.tenant}: {', '.join(adopted) or '-'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
