"""Adapters of the state the connector keeps: the connection repository and the API usage
recorder (DynamoDB), the token store (Secrets Manager), the one-time OAuth states, the refresh
lock and the idempotency records (DynamoDB); the trigger engine's subscription repository, cursor
store and polling state (DynamoDB items under ``CONNECTION#<cid>``) and the EventBridge Scheduler
poll schedules. One state table, keys in docs/ARCHITECTURE.md. Each is built with a client (or a
factory called on first use)."""
