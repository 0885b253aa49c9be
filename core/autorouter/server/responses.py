"""What the gateway answers with: OpenAI error objects (`_APIError`), JSON text a strict
client can parse, a completion's id, the `autorouter` report object, and the words that
describe failed upstream calls."""

from __future__ import annotations

import json
import math
import uuid
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from ..decision import routing_report
from ..reliability import retry_after_of

if TYPE_CHECKING:
    from ..decision import RoutingDecision
    from ..reliability import Attempt


# --- errors on the wire -------------------------------------------------------------------


class _APIError(Exception):
    """A failure answered as an OpenAI error object."""

    def __init__(
        self, status: int, message: str, *, kind: str = "invalid_request_error",
        param: str | None = None, code: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.kind = kind
        self.param = param
        self.code = code
        self.headers = dict(headers or {})

    def payload(self) -> dict[str, Any]:
        return {"error": {"message": self.message, "type": self.kind, "param": self.param,
                          "code": self.code}}


class _ClientGone(_APIError):
    """The client closed its connection before its answer was ready. The answer (nginx's 499)
    reaches nobody: the ASGI server drops what is sent to a closed connection."""

    def __init__(self, when: str) -> None:
        super().__init__(499, f"The client closed the connection {when}.",
                         code="client_disconnected")



def _dumps(payload: Any) -> str:
    """JSON text for a client. Values JSON cannot carry that came from an upstream (NaN, or a
    number that overflowed) become null rather than the invalid `NaN`/`Infinity` tokens that
    `json.dumps` would write and no strict client can parse."""
    try:
        return json.dumps(payload, allow_nan=False)
    except ValueError:
        return json.dumps(_finite(payload), allow_nan=False)


def _finite(value: Any) -> Any:
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return value



def _retry_after_s(failures: Sequence[tuple[str, BaseException]], cooldown_s: float) -> int:
    """Whole seconds a client should wait: the longest wait a provider asked for, else until
    the failed models' cooldown ends; at least 1."""
    asked = [w for _, e in failures if (w := retry_after_of(e))]
    return max(1, math.ceil(max(asked) if asked else cooldown_s))


def _describe_failure(model: str, error: BaseException) -> str:
    return f"{model}: {_failure_kind(error)}"


def _failure_kind(error: BaseException) -> str:
    status = getattr(error, "status_code", None)
    return type(error).__name__ + (f" (HTTP {status})" if status else "")


def _describe_failures(failures: Sequence[tuple[str, BaseException]]) -> str:
    """The models that failed alike listed once per kind of failure (20 models behind one dead
    endpoint make one line, not twenty)."""
    groups: dict[str, list[str]] = {}
    for model, error in failures:
        groups.setdefault(_failure_kind(error), []).append(model)
    return "; ".join(f"{', '.join(models)}: {kind}" for kind, models in groups.items())


def _extra(
    decision: RoutingDecision, *, routed: bool, model: str, attempts: Sequence[Attempt],
    cost: float | None, cost_source: str | None, sticky: bool,
) -> dict[str, Any]:
    """The `autorouter` object of a response: the routing report (`routing_report`) of a
    call that named its model when it was not `routed`."""
    return routing_report(
        model, decision, attempts, forced=not routed, sticky=sticky, cost_usd=cost,
        cost_source=cost_source,
    )


def _new_id() -> str:
    return f"chatcmpl-{uuid.uuid4().hex}"

