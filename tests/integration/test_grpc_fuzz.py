"""Fuzz every RPC of every served service through a real channel (issue 13, "make it stay
fixed"): random bytes, and valid messages mutated (a byte flipped, cut short, garbage spliced
in, a bad tag appended), sent with generic calls that pass the bytes as they are; with a valid
key, no key or a garbage one, stray router metadata, and deadlines down to a millisecond.

Whatever arrives, the server answers with a status of its own choosing: never ``UNKNOWN`` or
``INTERNAL`` (the status of an exception nobody mapped), a malformed message is
``INVALID_ARGUMENT``, and nothing reaches the server's log as a traceback. The calls and their
status distribution are printed at the end (and kept as the test's ``user_properties``).
"""

from __future__ import annotations

import collections
import json
from collections.abc import Iterator
from dataclasses import dataclass

import grpc
import pytest
from google.protobuf import descriptor, descriptor_pool, message_factory
from google.protobuf.message import DecodeError, Message
from grpc_health.v1 import health_pb2
from grpc_reflection.v1alpha import reflection_pb2
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from flexgrpc.accounts.crypto import ProviderKeyCipher, generate_encryption_key
from flexgrpc.accounts.store import AccountStore
from flexgrpc.db.engine import make_engine, make_sessionmaker
from flexgrpc.db.migrate import upgrade
from flexgrpc.server import SERVICE_NAMES
from flexgrpc.sim import SimConfig, run_in_thread
from tests.integration.conftest import Caller, new_caller
from tests.serverproc import ServerProcess, start_server

#: Examples per method: ~35 methods, so a few hundred calls, well under a minute in all.
EXAMPLES_PER_METHOD = 12
_FORBIDDEN = frozenset({grpc.StatusCode.UNKNOWN, grpc.StatusCode.INTERNAL})
#: What a message that does not parse may get: refused as such, or out of time first.
_MALFORMED = frozenset({grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.DEADLINE_EXCEEDED})
_DEADLINES = (0.001, 0.005, 0.05, 0.5, 2.0)
_F = descriptor.FieldDescriptor


def _services() -> list[descriptor.ServiceDescriptor]:
    pool = descriptor_pool.Default()
    extra = (
        health_pb2.DESCRIPTOR.services_by_name["Health"],
        reflection_pb2.DESCRIPTOR.services_by_name["ServerReflection"],
    )
    return [pool.FindServiceByName(name) for name in SERVICE_NAMES] + list(extra)


METHODS = [method for service in _services() for method in service.methods]


# --- messages: plausible field values, then mutations of their bytes ----------------------------

_WORDS = (
    "organizations/-", "organizations/-/apiKeys/k", "organizations/-/models/gpt-5-mini",
    "organizations/-/usageRecords/r", "organizations/-/invoices/2026-01", "2026-01",
    "gpt-5-mini", "claude-sonnet-4-5", "gemini-3-flash-preview", "00h-00m-30s", "default",
    "openai", "flexinference.v1.RouteService", "",
)  # fmt: skip
_JSON_BODIES = (
    b'{"model": "gpt-5-mini", "input": "hi", "start_within": "default"}',
    b'{"model": "gpt-5-mini", "messages": [{"role": "user", "content": "hi"}], '
    b'"start_within": "00h-00m-30s", "stream": true}',
    b'{"model": "claude-sonnet-4-5", "max_tokens": 8, "messages": [], "start_within": "x"}',
    b'{"model": 5}',
    b"[1, 2",
)
_TEXT = st.text(st.characters(exclude_categories=["Cs"]), max_size=24)
_RANGES = {
    _F.CPPTYPE_INT32: (-(2**31), 2**31 - 1),
    _F.CPPTYPE_UINT32: (0, 2**32 - 1),
    _F.CPPTYPE_INT64: (-(2**63), 2**63 - 1),
    _F.CPPTYPE_UINT64: (0, 2**64 - 1),
}


def _scalar(field: descriptor.FieldDescriptor) -> st.SearchStrategy[object]:
    if field.cpp_type in _RANGES:
        low, high = _RANGES[field.cpp_type]
        return st.one_of(st.integers(-3, 1000), st.integers(low, high)).filter(
            lambda n: low <= n <= high
        )
    if field.cpp_type == _F.CPPTYPE_ENUM:
        assert field.enum_type is not None
        return st.sampled_from([v.number for v in field.enum_type.values] + [7, 99])
    if field.cpp_type == _F.CPPTYPE_BOOL:
        return st.booleans()
    if field.cpp_type in (_F.CPPTYPE_FLOAT, _F.CPPTYPE_DOUBLE):
        return st.floats(allow_nan=True, width=32 if field.cpp_type == _F.CPPTYPE_FLOAT else 64)
    if field.type == _F.TYPE_BYTES:
        return st.one_of(st.sampled_from(_JSON_BODIES), st.binary(max_size=40))
    return st.one_of(st.sampled_from(_WORDS), _TEXT)


@st.composite
def _message(draw: st.DrawFn, message: descriptor.Descriptor, depth: int = 0) -> Message:
    built: Message = message_factory.GetMessageClass(message)()
    for field in message.fields:
        if field.message_type is not None and field.message_type.GetOptions().map_entry:
            continue
        if not draw(st.booleans()):
            continue
        _set(draw, built, field, depth)
    return built


def _set(draw: st.DrawFn, built: Message, field: descriptor.FieldDescriptor, depth: int) -> None:
    target = getattr(built, field.name)
    if field.message_type is not None:
        if depth >= 3:
            return
        values = [draw(_message(field.message_type, depth + 1)) for _ in range(2)]
        if field.is_repeated:
            target.extend(values)
        else:
            target.CopyFrom(values[0])
    elif field.is_repeated:
        target.extend(draw(st.lists(_scalar(field), max_size=3)))
    else:
        setattr(built, field.name, draw(_scalar(field)))


@st.composite
def _mutated(draw: st.DrawFn, data: bytes) -> bytes:
    kind = draw(st.sampled_from(["flip", "cut", "splice", "bad_tag", "as_is"]))
    if kind == "as_is" or (not data and kind in ("flip", "cut")):
        return data
    if kind == "flip":
        at = draw(st.integers(0, len(data) - 1))
        return data[:at] + bytes([data[at] ^ draw(st.integers(1, 255))]) + data[at + 1 :]
    if kind == "cut":
        return data[: draw(st.integers(0, len(data) - 1))]
    if kind == "splice":
        at = draw(st.integers(0, len(data)))
        return data[:at] + draw(st.binary(min_size=1, max_size=8)) + data[at:]
    # A field number 0, a group end with no start, a length past the end: never a message.
    return data + draw(st.sampled_from([b"\x00", b"\x0c", b"\x0a\xff\x01", b"\xff\xff\xff"]))


def _payloads(method: descriptor.MethodDescriptor) -> st.SearchStrategy[bytes]:
    valid = _message(method.input_type).map(lambda m: m.SerializeToString())
    return st.one_of(valid, valid.flatmap(_mutated), st.binary(max_size=64))


_GARBAGE_KEYS = st.one_of(
    st.just("Bearer flex_live_" + "0" * 30),
    st.just("flex_live_000"),
    st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=40),
)
_EXTRA = st.lists(
    st.tuples(
        st.sampled_from(["x-flexinference-start-within", "x-forwarded-for", "x-api-key"]),
        st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), max_size=16),
    ),
    max_size=2,
)


# --- the server under fuzz ----------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    server: ServerProcess
    caller: Caller


@pytest.fixture(scope="module")
def target(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Target]:
    home = tmp_path_factory.mktemp("grpc-fuzz")
    url = f"sqlite:///{home / 'fuzz.db'}"
    secret = generate_encryption_key()
    upgrade(url)
    store = AccountStore(
        make_sessionmaker(make_engine(url)), ProviderKeyCipher.from_setting(secret)
    )
    caller = new_caller(store, "Fuzz Co")
    for provider, key in (("openai", "sk-test-" + "a" * 32), ("gemini", "AIza" + "b" * 35),
                          ("anthropic", "sk-ant-" + "c" * 32)):  # fmt: skip
        store.set_provider_key(caller.organization_id, provider, key)
    with run_in_thread(SimConfig(seed=13, time_scale=0.01)) as sim:
        server = start_server(
            home,
            {
                "FLEXGRPC_DATABASE_URL": url,
                "FLEXGRPC_ENCRYPTION_KEY": secret,
                "FLEXGRPC_OPENAI_BASE_URL": f"{sim.url}/v1",
                "FLEXGRPC_ANTHROPIC_BASE_URL": f"{sim.url}/v1",
                "FLEXGRPC_GEMINI_BASE_URL": f"{sim.url}/v1beta",
                "FLEXGRPC_LOG_LEVEL": "INFO",
                "FLEXGRPC_AUTH_FAILURES_PER_MINUTE": "1000000",
            },
        )
        yield Target(server, caller)
        server.stop()


#: Every call the tests below sent, by status (printed by the last test).
STATUSES: collections.Counter[str] = collections.Counter()


def _call(
    channel: grpc.Channel,
    method: descriptor.MethodDescriptor,
    payload: bytes,
    metadata: list[tuple[str, str]],
    timeout: float,
) -> tuple[grpc.StatusCode, str]:
    path = f"/{method.containing_service.full_name}/{method.name}"
    try:
        if method.client_streaming:
            call = channel.stream_stream(path)
            for _ in call(iter([payload]), metadata=metadata, timeout=timeout):
                pass
        elif method.server_streaming:
            for _ in channel.unary_stream(path)(payload, metadata=metadata, timeout=timeout):
                pass
        else:
            channel.unary_unary(path)(payload, metadata=metadata, timeout=timeout)
    except grpc.RpcError as error:
        return error.code(), (error.details() or "")[:160]  # type: ignore[attr-defined]
    return grpc.StatusCode.OK, ""


def _tracebacks(log: str) -> list[str]:
    """One line per logged traceback: its log message (a JSON log) or its last line."""
    found = []
    for line in log.splitlines():
        if "Traceback" not in line:
            continue
        try:
            found.append("traceback logged: " + str(json.loads(line).get("message", ""))[:160])
        except ValueError:
            found.append("traceback logged (plain text)")
    return found


def _parses(method: descriptor.MethodDescriptor, payload: bytes) -> bool:
    try:
        message_factory.GetMessageClass(method.input_type).FromString(payload)
    except DecodeError:
        return False
    return True


@pytest.mark.parametrize("method", METHODS, ids=lambda m: m.full_name)
def test_no_input_gets_unknown_or_internal(
    target: Target, method: descriptor.MethodDescriptor
) -> None:
    log_start = len(target.server.logs())
    wrong: list[str] = []
    with grpc.insecure_channel(target.server.target) as channel:

        @settings(
            max_examples=EXAMPLES_PER_METHOD,
            deadline=None,
            database=None,
            derandomize=True,
            suppress_health_check=list(HealthCheck),
        )
        @given(
            payload=_payloads(method),
            key=st.sampled_from(["valid", "none", "garbage"]),
            garbage=_GARBAGE_KEYS,
            extra=_EXTRA,
            timeout=st.sampled_from(_DEADLINES),
        )
        def fuzz(
            payload: bytes, key: str, garbage: str, extra: list[tuple[str, str]], timeout: float
        ) -> None:
            metadata = list(extra)
            if key == "valid":
                metadata.extend(target.caller.metadata)
            elif key == "garbage":
                metadata.append(("authorization", garbage))
            code, detail = _call(channel, method, payload, metadata, timeout)
            STATUSES[code.name] += 1
            if code in _FORBIDDEN:
                wrong.append(f"{code.name}: {detail}")
            elif not _parses(method, payload) and code not in _MALFORMED:
                wrong.append(f"a malformed message got {code.name}: {detail}")

        fuzz()
    wrong.extend(_tracebacks(target.server.logs()[log_start:]))
    assert not wrong, "\n".join(sorted(set(wrong))[:20])


def test_zz_status_distribution(
    record_property: pytest.RecordProperty, capsys: pytest.CaptureFixture[str]
) -> None:
    """Not a check: the calls the tests above sent, by status (it runs after them)."""
    calls = sum(STATUSES.values())
    distribution = ", ".join(f"{k}: {v}" for k, v in sorted(STATUSES.items()))
    record_property("grpc_fuzz_calls", calls)
    record_property("grpc_fuzz_statuses", distribution)
    with capsys.disabled():
        print(f"\ngrpc fuzz: {calls} calls over {len(METHODS)} methods; {distribution}")
