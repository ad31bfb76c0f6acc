"""Adapters of the connector's own state: DynamoDB items under ``CONNECTION#<cid>`` and the
EventBridge Scheduler schedules. Each is built with a client (or a factory called on first use)."""
