"""One routed call, whoever makes it (the core client, the LangChain and LlamaIndex adapters,
the gateway).

- `plan`: which candidates can serve a call, what continuity keeps (an agent run's model, a
  session's), the order to try models in, and the routing report of the answer;
- `streams`: the stream rules (hold the empty head so a stream falls back before its first
  output) and the core client's routed streams;
- `endpoints`: where each model is called; `upstream`: a planned call over the
  OpenAI-compatible client, and its answer with its cost;
- `caller`: `RoutedCaller`, the runtime side of a router's calls;
- `memory`: the bounded memory sessions and agent runs are kept in.

The fallback flow itself is `autorouter.reliability`; the cost of a call `autorouter.costs`.
"""

from .caller import DEFAULT_SESSION_CAPACITY, DEFAULT_SESSION_MARGIN, RoutedCaller
from .endpoints import Endpoints, EndpointTarget
from .memory import RecentMap
from .plan import CallPlan, aplan_call, eligible_candidates, plan_call, session_plan
from .streams import AsyncRoutedStream, RoutedStream, ahold_empty_head, hold_empty_head
from .upstream import RoutedCompletion, UpstreamCall

__all__ = [
    "DEFAULT_SESSION_CAPACITY",
    "DEFAULT_SESSION_MARGIN",
    "AsyncRoutedStream",
    "CallPlan",
    "EndpointTarget",
    "Endpoints",
    "RecentMap",
    "RoutedCaller",
    "RoutedCompletion",
    "RoutedStream",
    "UpstreamCall",
    "ahold_empty_head",
    "aplan_call",
    "eligible_candidates",
    "hold_empty_head",
    "plan_call",
    "session_plan",
]
