"""Adapters of the state the connector keeps: the connection repository and the API usage
recorder (DynamoDB), the token store (Secrets Manager), the one-time OAuth states, the refresh
lock and the idempotency records (DynamoDB). One state table, keys in docs/ARCHITECTURE.md; the
trigger engine's subscription repository and cursor store belong here too."""
