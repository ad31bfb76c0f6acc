"""The authorisation service: the OAuth 2.0 web-server flow with PKCE (connect, callback:
:mod:`~sfconnector.oauth.authorization`), the refreshing token provider of a stored connection
(:mod:`~sfconnector.oauth.provider`) and connection administration (list, inspect, re-authorise,
delete, describe: :mod:`~sfconnector.oauth.service`). Its stores are in :mod:`sfconnector.stores`,
its HTTP routes in :mod:`sfconnector.api.connections`."""
