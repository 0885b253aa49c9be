"""The parts of `ChatAutoRouter.with_structured_output`: for a schema and a method, what to
bind on the router (one forced tool, or an OpenAI-style `response_format`) and how its
answer is parsed, with or without the raw message."""

from __future__ import annotations

from operator import itemgetter
from typing import Any

from langchain_core.output_parsers import JsonOutputParser, PydanticOutputParser
from langchain_core.output_parsers.openai_tools import (
    JsonOutputKeyToolsParser,
    PydanticToolsParser,
)
from langchain_core.runnables import Runnable, RunnableMap, RunnablePassthrough
from langchain_core.utils.function_calling import convert_to_openai_function, convert_to_openai_tool
from langchain_core.utils.pydantic import is_basemodel_subclass


def structured_output(
    schema: dict[str, Any] | type, method: str, strict: bool | None
) -> tuple[bool, dict[str, Any], Runnable[Any, Any]]:
    """(whether `schema` is bound as the one tool, the kwargs to bind, the answer's parser).

    `"function_calling"` forces a call of one tool shaped like `schema`; `"json_schema"` and
    `"json_mode"` bind a `response_format`. Either way the bound kwargs carry
    `ls_structured_output_format`, for the callbacks' chat-model start."""
    is_pydantic = isinstance(schema, type) and is_basemodel_subclass(schema)
    ls_format = {"kwargs": {"method": method, "strict": strict}, "schema": schema}
    parser: Runnable[Any, Any]
    if method == "function_calling":
        tool_name = convert_to_openai_tool(schema)["function"]["name"]
        bind: dict[str, Any] = {"tool_choice": tool_name, "ls_structured_output_format": ls_format}
        if strict is not None:
            bind["strict"] = strict
        parser = (
            PydanticToolsParser(tools=[schema], first_tool_only=True)  # type: ignore[list-item]
            if is_pydantic
            else JsonOutputKeyToolsParser(key_name=tool_name, first_tool_only=True)
        )
        return True, bind, parser
    if method in ("json_mode", "json_schema"):
        if method == "json_mode":
            if strict is not None:
                raise ValueError("`strict` is not supported with method='json_mode'")
            response_format: dict[str, Any] = {"type": "json_object"}
            ls_format["kwargs"] = {"method": method}
        else:
            function = convert_to_openai_function(schema, strict=strict)
            function["schema"] = function.pop("parameters")
            response_format = {"type": "json_schema", "json_schema": function}
        parser = PydanticOutputParser(pydantic_object=schema) if is_pydantic else JsonOutputParser()  # type: ignore[arg-type]
        return False, {"response_format": response_format, "ls_structured_output_format": ls_format}, parser
    raise ValueError(
        f"unknown method {method!r}: use 'function_calling', 'json_schema' or 'json_mode'"
    )


def parsed(llm: Runnable[Any, Any], parser: Runnable[Any, Any], include_raw: bool) -> Runnable[Any, Any]:
    """`llm`'s answers parsed; with `include_raw`, a dict of the `raw` message, the `parsed`
    value and the `parsing_error` (None when it parsed)."""
    if not include_raw:
        return llm | parser
    with_parsed = RunnablePassthrough.assign(
        parsed=itemgetter("raw") | parser, parsing_error=lambda _: None
    ).with_fallbacks(
        [RunnablePassthrough.assign(parsed=lambda _: None)], exception_key="parsing_error"
    )
    return RunnableMap(raw=llm) | with_parsed
