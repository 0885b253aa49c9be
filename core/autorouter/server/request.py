"""Reading a request: the body as JSON values can carry on (finite numbers, valid Unicode),
the schemas a chat-completions or feedback request is checked against, and the 400 that names
the first field at fault."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Sequence
from typing import Annotated, Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from .responses import _APIError

AUTO_MODELS = frozenset({"auto", "autorouter/auto", "openrouter/auto"})
"""`model` values that route among the candidates."""

# Request fields the gateway consumes; every other field goes to the model as given.
_OWN_FIELDS = frozenset({
    "model", "models", "messages", "tradeoff", "max_cost", "max_latency_s", "latency_weight",
    "session", "stream", "stream_options", "tools", "tool_choice", "response_format",
})


# --- the request --------------------------------------------------------------------------


class _Strict(BaseModel):
    # Strict: "0.5" is not a number and 1 is not a bool. Unknown fields are kept and passed on.
    model_config = ConfigDict(strict=True, extra="allow")


class _Function(_Strict):
    name: str = Field(min_length=1, max_length=256)
    description: str | None = None
    parameters: dict[str, Any] | None = None
    strict: bool | None = None


class _Tool(_Strict):
    type: Literal["function"]
    function: _Function


class _Message(_Strict):
    role: Literal["system", "developer", "user", "assistant", "tool", "function"]
    content: str | list[dict[str, Any]] | None = None
    name: str | None = None
    tool_calls: list[dict[str, Any]] | None = None
    tool_call_id: str | None = None


class _ResponseFormat(_Strict):
    type: Literal["text", "json_object", "json_schema"]
    json_schema: dict[str, Any] | None = None


class _StreamOptions(_Strict):
    include_usage: bool = False


_Name = Annotated[str, Field(min_length=1, max_length=256)]


_Body = TypeVar("_Body", bound=BaseModel)


class FeedbackRequest(BaseModel):
    """`POST /v1/feedback`: how good the answer with this id was (a score in [0, 1])."""

    model_config = ConfigDict(strict=True, extra="forbid")

    id: _Name
    score: float = Field(ge=0.0, le=1.0, allow_inf_nan=False)


class ChatRequest(_Strict):
    """A chat-completions request as the gateway checks it (OpenAI's fields it looks at, and
    its own: `models`, `tradeoff`, `max_cost`, `max_latency_s`, `latency_weight`, `session`)."""

    model: _Name
    messages: list[_Message] = Field(min_length=1)
    models: list[_Name] | None = Field(default=None, min_length=1, max_length=1000)
    tradeoff: float | None = Field(default=None, ge=0.0, le=1.0)
    max_cost: float | None = Field(default=None, gt=0.0)
    max_latency_s: float | None = Field(default=None, gt=0.0)
    latency_weight: float | None = Field(default=None, ge=0.0, allow_inf_nan=False)
    session: _Name | None = None
    stream: bool | None = False
    stream_options: _StreamOptions | None = None
    tools: list[_Tool] | None = None
    tool_choice: Literal["none", "auto", "required"] | dict[str, Any] | None = None
    response_format: _ResponseFormat | None = None
    temperature: float | None = Field(default=None, ge=0.0, le=2.0)
    top_p: float | None = Field(default=None, ge=0.0, le=1.0)
    max_tokens: int | None = Field(default=None, ge=1)
    max_completion_tokens: int | None = Field(default=None, ge=1)
    n: int | None = Field(default=None, ge=1, le=1)
    stop: str | list[str] | None = None
    presence_penalty: float | None = Field(default=None, ge=-2.0, le=2.0)
    frequency_penalty: float | None = Field(default=None, ge=-2.0, le=2.0)
    seed: int | None = None
    user: str | None = None
    logit_bias: dict[str, float] | None = None
    logprobs: bool | None = None
    top_logprobs: int | None = Field(default=None, ge=0, le=20)
    parallel_tool_calls: bool | None = None



def _param(loc: Sequence[Any]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _validation_error(error: ValidationError) -> _APIError:
    problems = error.errors(include_url=False, include_input=False)
    first = problems[0]
    # Union members each report their own failure; name the field once.
    loc = [p for p in first["loc"] if not (isinstance(p, str) and ("[" in p or p in _UNION_TAGS))]
    param = _param(loc)
    if first["type"] == "missing":
        message = f"Missing required parameter: '{param}'."
    elif param == "n":
        message = "Invalid value for 'n': only n=1 is supported."
    else:
        message = f"Invalid value for '{param}': {first['msg']}."
    if len(problems) > 1 and first["type"] != "missing":
        others = {_param([p for p in e["loc"] if not (isinstance(p, str) and "[" in p)])
                  for e in problems[1:]} - {param}
        if others:
            message += f" (also check {', '.join(sorted(others)[:5])})"
    return _APIError(400, message, param=param or None,
                     code="missing_required_parameter" if first["type"] == "missing"
                     else "invalid_value")


_UNION_TAGS = frozenset({"str", "list", "dict", "literal", "function-after", "none",
                         "float", "int", "bool"})


class _NotJSON(ValueError):
    """NaN, Infinity or -Infinity: Python's json reads them, JSON has no such values."""


def _no_constant(name: str) -> Any:
    raise _NotJSON(name)


# A lone surrogate can only come from a \uD800-\uDFFF escape (as raw UTF-8 it fails to
# decode); json pairs high and low escapes into one character, so any left is unpaired.
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def _parse_json(raw: bytes) -> dict[str, Any]:
    """The request body as a dict of values JSON can carry on, or a 400."""
    if not raw.strip():
        raise _APIError(400, "The request body is empty; send a JSON object.",
                        code="invalid_json")
    overflowed = False

    def parse_float(text: str) -> float:
        # 1e999 is valid JSON syntax but overflows to inf: no JSON encoder can send it on.
        nonlocal overflowed
        value = float(text)
        overflowed = overflowed or not math.isfinite(value)
        return value

    encoding = json.detect_encoding(raw)
    try:
        # Strictly decoded (json.loads of bytes would let UTF-8-encoded surrogates through).
        text = raw.decode(encoding)
    except UnicodeDecodeError:
        raise _APIError(400, f"The request body is not valid {encoding.upper()} text; send "
                        "JSON encoded as UTF-8.", code="invalid_json") from None
    try:
        body = json.loads(text, parse_constant=_no_constant, parse_float=parse_float)
    except _NotJSON as exc:
        raise _APIError(
            400, f"The JSON body contains {exc}, which is not a JSON value: numbers must be "
            "finite.", code="invalid_json",
        ) from None
    except (ValueError, RecursionError):
        raise _APIError(
            400, "We could not parse the JSON body of your request. Send a JSON object "
            "(Content-Type: application/json).", code="invalid_json",
        ) from None
    if not isinstance(body, dict):
        raise _APIError(400, "The request body must be a JSON object, not "
                        f"{type(body).__name__ if body is not None else 'null'}.",
                        code="invalid_json")
    if overflowed or _SURROGATE_ESCAPE.search(text):  # rare: only then walk the whole body
        _check_values(body)
    return body


def _check_values(body: dict[str, Any]) -> None:
    """A 400 naming the first value the upstream call could not encode: a non-finite number
    (in any field, the passed-through ones too) or a string or key with a lone surrogate.

    Iterative, since json accepts nesting deeper than a recursive walk could follow here."""
    stack: list[tuple[Any, tuple[str | int, ...]]] = [(body, ())]
    while stack:
        value, loc = stack.pop()
        param = _param(loc)
        if isinstance(value, float) and not math.isfinite(value):
            raise _APIError(
                400, f"Invalid value for '{param}': the number is too large to represent "
                "(it overflows a double); send a finite number.", param=param,
                code="invalid_value",
            )
        if isinstance(value, str) and _LONE_SURROGATE.search(value):
            raise _APIError(
                400, f"Invalid value for '{param}': the text contains a lone UTF-16 surrogate "
                "(an unpaired \\uD800-\\uDFFF escape), which is not valid Unicode.",
                param=param or None, code="invalid_value",
            )
        if isinstance(value, dict):
            for key, item in reversed(value.items()):
                if _LONE_SURROGATE.search(key):
                    where = f"'{param}'" if param else "the request body"
                    raise _APIError(
                        400, f"Invalid field name in {where}: it contains a lone UTF-16 "
                        "surrogate (an unpaired \\uD800-\\uDFFF escape), which is not valid "
                        "Unicode.", param=param or None, code="invalid_value",
                    )
                stack.append((item, (*loc, key)))
        elif isinstance(value, list):
            stack.extend((value[i], (*loc, i)) for i in range(len(value) - 1, -1, -1))

