from tests.unit.salesforce.fakes import harness

__all__ = ["harness"]
