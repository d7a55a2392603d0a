"""Streamed gRPC answers: events that arrived together go out in one message, none waits.

Against a real server and the simulator: an upstream that sends its whole answer at once
(``token_rate`` 0) reaches the caller in fewer messages than it has events, with the same
events; a paced upstream's events each go out as they come, the first while the simulator is
still generating the rest.
"""

from __future__ import annotations

import json
from typing import Any

from flexinference.v1 import route_pb2, types_pb2

from flexgrpc.sim import SimConfig, SimulatorThread
from tests.integration.conftest import Caller
from tests.integration.test_route import OPENAI_MODEL, body


def _events(data: bytes) -> list[tuple[str, Any]]:
    """(event name, payload without ids and times) of each whole frame in ``data``."""
    found = []
    for frame in data.decode().split("\n\n"):
        if not frame:
            continue
        lines = dict(line.split(": ", 1) for line in frame.split("\n"))
        payload = json.loads(lines["data"])
        found.append((lines.get("event", ""), payload.get("delta")))
    return found


def _stream(stub: Any, org: Caller) -> Any:
    return stub.CreateResponse(
        route_pb2.CreateResponseRequest(
            body=body(model=OPENAI_MODEL, input="hi", stream=True, start_within="default")
        ),
        metadata=org.metadata,
        timeout=60,
    )


def test_events_that_arrive_together_go_out_in_fewer_messages(
    stub: Any, org: Caller, sim: SimulatorThread
) -> None:
    paced = SimConfig(seed=7).with_tier("standard", token_rate=100, output_tokens=8)
    sim.config = paced
    sim.reset()
    one_by_one = [m.data for m in _stream(stub, org)]
    sim.config = SimConfig(seed=7).with_tier("standard", output_tokens=8)  # all at once
    sim.reset()
    together = [m.data for m in _stream(stub, org)]

    assert all(message.endswith(b"\n\n") for message in together)  # whole events only
    assert _events(b"".join(together)) == _events(b"".join(one_by_one))
    assert len(together) < len(one_by_one) < len(_events(b"".join(one_by_one)))
    assert _events(together[-1])[-1][0] == "response.completed"


def test_a_paced_stream_sends_each_event_as_it_comes(
    stub: Any, org: Caller, sim: SimulatorThread
) -> None:
    sim.config = SimConfig(seed=7).with_tier("standard", token_rate=20, output_tokens=10)
    sim.reset()
    call = _stream(stub, org)
    first = next(call)
    (upstream,) = sim.records
    # The first event reached the caller while the provider was still generating the rest.
    assert upstream.end_time is None
    assert _events(first.data)[0][0] == "response.created"
    rest = [m.data for m in call]
    assert upstream.end_time is not None
    received = _events(first.data + b"".join(rest))
    assert len([e for e in received if e[0] == "response.output_text.delta"]) == 10
    assert received[-1][0] == "response.completed"


def test_typed_stream_route_carries_events_that_arrived_together_in_one_chunk(
    stub: Any, org: Caller, sim: SimulatorThread
) -> None:
    sim.config = SimConfig(seed=7).with_tier("standard", output_tokens=8)
    sim.reset()
    messages = list(
        stub.StreamRoute(
            route_pb2.StreamRouteRequest(
                model=OPENAI_MODEL,
                surface=types_pb2.SURFACE_RESPONSES,
                body=body(input="hi"),
                routing=types_pb2.RoutingControls(tier=types_pb2.START_TIER_DEFAULT),
            ),
            metadata=org.metadata,
            timeout=30,
        )
    )
    kinds = [m.WhichOneof("event") for m in messages]
    assert (kinds[0], kinds[-1]) == ("settled", "completed")
    chunks = [m.chunk.data for m in messages[1:-1]]
    events = _events(b"".join(chunks))
    assert len(chunks) < len(events)
    assert events[-1][0] == "response.completed"
