"""A Salesforce emulator: a real HTTP server speaking Salesforce's REST and OAuth APIs."""
