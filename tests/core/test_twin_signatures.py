"""The calls written once and taken by their twins (`calls.twins.parameters_of`): `acomplete`,
`stream` and `astream` take `complete`'s parameters, `aroute` takes `route`'s. Their signatures
are the same for `inspect` and help(), and a twin binds its arguments as its model does, against
the real loopback OpenAI-compatible server of `test_calling`."""

from __future__ import annotations

import inspect

import pytest

import test_calling as calling
from autorouter import Router
from autorouter.calls import RoutedCaller
from autorouter.calls.twins import options_of, parameters_of
from autorouter.errors import InvalidRequestError

# the fitted router of `test_calling`, calling the loopback server
base_router, router, async_pools = calling.base_router, calling.router, calling.async_pools

TWINS = [
    (RoutedCaller, "complete", "acomplete", "RoutedCompletion"),
    (RoutedCaller, "complete", "stream", "RoutedStream"),
    (RoutedCaller, "stream", "astream", "AsyncRoutedStream"),
    (Router, "route", "aroute", "RoutingDecision"),
]


@pytest.mark.parametrize(("owner", "model", "twin", "returns"), TWINS)
def test_a_twin_has_its_models_parameters_and_its_own_doc_and_return(owner, model, twin, returns):
    made, taken = getattr(owner, model), getattr(owner, twin)
    assert inspect.signature(taken).parameters == inspect.signature(made).parameters
    assert inspect.signature(taken).return_annotation == returns
    assert taken.__doc__ and taken.__doc__ != made.__doc__
    assert inspect.iscoroutinefunction(taken) == (twin in {"acomplete", "aroute"})


def test_the_router_forwards_the_twins_with_their_signatures_and_docs(router):
    for name in ("acomplete", "stream", "astream"):
        forwarded, own = getattr(router, name), getattr(RoutedCaller, name)
        assert inspect.signature(forwarded).parameters == inspect.signature(router.complete).parameters
        assert str(inspect.signature(forwarded)) == str(inspect.signature(own)).replace("(self, ", "(")
        assert getattr(Router, name).__doc__ == own.__doc__
    assert "tradeoff: 'float | None' = None" in str(inspect.signature(Router.default().acomplete))
    assert inspect.iscoroutinefunction(router.acomplete) and inspect.iscoroutinefunction(router.aroute)
    assert inspect.signature(router.aroute).parameters == inspect.signature(router.route).parameters


async def test_acomplete_takes_named_options_and_body_fields_as_complete_does(router, openai_server, async_pools):
    sync = router.complete(calling.CHAT, tradeoff=1, temperature=0.2, max_tokens=2, body={"x": 1})
    sent = openai_server.requests[-1].body
    answer = await router.acomplete(calling.CHAT, tradeoff=1, temperature=0.2, max_tokens=2, body={"x": 1})
    assert openai_server.requests[-1].body == sent
    assert sent["temperature"] == 0.2 and sent["max_tokens"] == 2 and sent["body"] == {"x": 1}
    assert "tradeoff" not in sent  # a named option routes; it is not sent
    assert (answer.model, answer.text, answer.finish_reason) == (sync.model, sync.text, sync.finish_reason)
    assert (answer.model, answer.finish_reason) == ("tiny", "length")
    assert answer.decision == sync.decision


async def test_astream_takes_them_as_stream_does(router, openai_server, async_pools):
    sync = router.stream(calling.CODE, tradeoff=1, tools=[calling.SQUARE_TOOL], temperature=0)
    sync_text = "".join(c.text for c in sync)
    sent = openai_server.requests[-1].body
    stream = router.astream(calling.CODE, tradeoff=1, tools=[calling.SQUARE_TOOL], temperature=0)
    assert "".join([c.text async for c in stream]) == sync_text
    assert openai_server.requests[-1].body == sent
    assert sent["tools"] == [calling.SQUARE_TOOL] and sent["temperature"] == 0 and sent["stream"] is True
    assert stream.model == sync.model and stream.decision == sync.decision


async def test_aroute_binds_its_options_as_route_does(router):
    assert await router.aroute(calling.MATH) == router.route(calling.MATH)  # the same defaults
    options = {"tradeoff": 0.7, "candidates": ["coder", "tiny"], "tools": True, "latency_weight": 0}
    assert await router.aroute(calling.MATH, **options) == router.route(calling.MATH, **options)
    with pytest.raises(TypeError, match=r"^Router\.route\(\) got an unexpected keyword argument 'temperature'$"):
        router.route(calling.MATH, temperature=0)
    with pytest.raises(TypeError, match=r"^Router\.aroute\(\) got an unexpected keyword argument 'temperature'$"):
        await router.aroute(calling.MATH, temperature=0)


async def test_refused_arguments_are_refused_alike(router, openai_server, async_pools):
    for bad in ({"model": "tiny"}, {"stream": True}, {"tradeoff": 2}):
        for call in (router.complete, router.stream, router.astream):
            with pytest.raises(InvalidRequestError):
                call(calling.MATH, **bad)
        with pytest.raises(InvalidRequestError):
            await router.acomplete(calling.MATH, **bad)
    for call in (router.acomplete, router.aroute):
        with pytest.raises(TypeError, match="missing 1 required positional argument"):
            call()  # at once, as before: the twins' own positional parameters are real
    assert openai_server.total_calls == 0


def test_parameters_of_wants_the_models_positional_parameters_and_options():
    def model(self, prompt, *, tradeoff: float | None = None, **body) -> int:
        return 0

    with pytest.raises(TypeError, match=r"must take \['self', 'prompt'\] and \*\*options"):
        parameters_of(model)(lambda self, text, **options: 0)
    with pytest.raises(TypeError, match="must take"):
        parameters_of(model)(lambda self, prompt: 0)
    assert options_of(model, {"top_p": 1}) == {"tradeoff": None, "body": {"top_p": 1}}
    assert options_of(model, {"body": 2}) == {"tradeoff": None, "body": {"body": 2}}  # as a call binds it
