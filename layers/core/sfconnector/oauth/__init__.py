"""OAuth 2.0 web-server flow with PKCE, the one-time state store, the refresh lock and the token
provider that the Salesforce client uses for a stored connection."""
