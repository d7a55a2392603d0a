"""Typed gRPC stubs for the flexinference API (generated; see ``make gen``)."""
