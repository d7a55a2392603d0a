"""grpc-core's report of a call that ended before its answer could be sent is counted, not
logged: with 1 ms deadlines it is the caller's doing, not a server fault."""

from __future__ import annotations

import logging
import sys

from flexgrpc.api.interceptors import CallOverFilter


class ExecuteBatchError(Exception):
    """Named like grpc-core's (its class is private to the Cython module)."""


def _record(exc: BaseException | None) -> logging.LogRecord:
    try:
        if exc is not None:
            raise exc
    except BaseException:
        exc_info = sys.exc_info()
    else:
        exc_info = None
    return logging.LogRecord("grpc._cython.cygrpc", logging.ERROR, __file__, 1, "x", (), exc_info)


def test_a_failed_batch_of_a_finished_call_is_counted_not_logged() -> None:
    counted: list[int] = []
    kept = CallOverFilter(lambda: counted.append(1))
    assert kept.filter(_record(ExecuteBatchError("Failed execute_batch"))) is False
    assert counted == [1]


def test_every_other_error_is_still_logged() -> None:
    counted: list[int] = []
    kept = CallOverFilter(lambda: counted.append(1))
    assert kept.filter(_record(ValueError("a real fault"))) is True
    assert kept.filter(_record(None)) is True
    assert counted == []
