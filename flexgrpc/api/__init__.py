"""gRPC-facing layer: interceptors, status mapping and the servicers."""
