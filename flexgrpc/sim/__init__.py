"""The provider simulator: a real HTTP server speaking the OpenAI (Responses, Chat
Completions), Anthropic (Messages) and Gemini (Interactions, generateContent) wire formats,
with seeded per-tier behaviour (capacity refusals, queueing delays, token rates, errors, drops,
the tier served) for tests, benchmarks and demo mode (SPEC §9). Requests that offer tools get
tool calls whose arguments fit the tools' schemas, requests that ask for JSON get JSON valid
against their schema, and the count-tokens routes count prompts as the generation routes do.

Public API::

    Simulator(config=None, *, max_records=100_000)   # await start(host, port) -> port; stop()
    run_in_thread(config=None, *, host, port, max_records) -> SimulatorThread
    SimConfig, TierConfig, parse_delay, DelaySpec     # behaviour
    RequestRecord, Outcome                            # what was seen
"""

from flexgrpc.sim.config import DelaySpec, SimConfig, TierConfig, parse_delay
from flexgrpc.sim.records import Outcome, RequestRecord
from flexgrpc.sim.server import Simulator, SimulatorThread, run_in_thread

__all__ = [
    "DelaySpec",
    "Outcome",
    "RequestRecord",
    "SimConfig",
    "Simulator",
    "SimulatorThread",
    "TierConfig",
    "parse_delay",
    "run_in_thread",
]
