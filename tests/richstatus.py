"""Reading the rich error status (``google.rpc.Status`` details) a call failed with."""

from __future__ import annotations

from dataclasses import dataclass

import grpc
from google.rpc import error_details_pb2
from grpc_status import rpc_status


@dataclass
class RichError:
    code: grpc.StatusCode
    message: str
    infos: list[error_details_pb2.ErrorInfo]
    bad_request: list[error_details_pb2.BadRequest]
    retry: list[error_details_pb2.RetryInfo]
    trailers: dict[str, str | bytes]

    @property
    def reason(self) -> str:
        assert len(self.infos) == 1, f"want exactly one ErrorInfo, got {self.infos}"
        return self.infos[0].reason


def rich_error(error: grpc.RpcError) -> RichError:
    assert isinstance(error, grpc.Call)
    status = rpc_status.from_call(error)
    assert status is not None, f"no rich status on {error.code()}: {error.details()}"
    infos, bad, retry = [], [], []
    for detail in status.details:
        for cls, bucket in (
            (error_details_pb2.ErrorInfo, infos),
            (error_details_pb2.BadRequest, bad),
            (error_details_pb2.RetryInfo, retry),
        ):
            if detail.Is(cls.DESCRIPTOR):
                message = cls()
                detail.Unpack(message)
                bucket.append(message)
    trailers = {k: v for k, v in (error.trailing_metadata() or ())}
    return RichError(error.code(), status.message, infos, bad, retry, trailers)
