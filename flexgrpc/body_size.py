"""The request body limit (SPEC §2): one check and one message, wherever a body is measured
(its declared length, the bytes read so far, the body a gRPC call carried)."""

from __future__ import annotations

from flexgrpc.errors import FlexError


def body_too_large(limit: int, size: int | None = None) -> FlexError:
    """``request_too_large`` for a body of ``size`` bytes (``None``: not read to its end)."""
    stated = f"is {size:,} bytes, " if size is not None else "is "
    return FlexError(
        "request_too_large",
        f"The request body {stated}over the limit of {limit:,} bytes: send a smaller body "
        "(large files can be uploaded to the provider and referenced by id).",
        metadata={"limit_bytes": str(limit)},
    )


def check_body_size(size: int, limit: int, *, whole: bool = True) -> None:
    """Refuse a body of ``size`` bytes over ``limit``; ``whole`` is false while it is still
    arriving (its full size is not known then)."""
    if size > limit:
        raise body_too_large(limit, size if whole else None)
