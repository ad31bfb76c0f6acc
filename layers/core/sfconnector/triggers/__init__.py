"""Triggers: subscriptions, their poll schedules, and the engine that polls and publishes.

* :mod:`sfconnector.triggers.subscriptions` / :mod:`sfconnector.triggers.scheduling` (subs):
  the subscriptions service and the per-connection poll schedule.
* :mod:`sfconnector.triggers.streams`: the generic implementation of a catalog
  :class:`~sfconnector.catalog.Stream` (which rows fire, the event id, the envelope, the query).
* :mod:`sfconnector.triggers.poller`: :func:`~sfconnector.triggers.poller.poll_connection`, one
  cycle of a connection (lease, one query per sObject packed five per Composite call, SNS batch
  publish, cursor and seen-set written after SNS accepted the events).
* :mod:`sfconnector.triggers.sample`: the envelopes a subscription would receive, published nowhere.

docs/triggers.md describes the semantics and the guarantees.
"""
