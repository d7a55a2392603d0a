"""flexgrpc: a deadline-aware LLM inference router served over gRPC."""

__version__ = "0.1.0"
