"""Translation between caller surfaces and provider APIs, through one intermediate form.

- ``ir``: the intermediate form (requests, answer events, whole answers, refusals);
- ``formats``: what a caller format and an upstream format offer;
- one module per wire format: ``chat``, ``responses``, ``messages``, ``interactions`` (and
  the readers' shared ``fields`` and ``call_ids``).

``flexgrpc.providers.translated`` pairs a caller format with a provider's adapter;
``flexgrpc.providers.registry`` builds every pair.
"""
