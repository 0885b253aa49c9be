"""The shared upstream connection pools under concurrency, against the real loopback server.

Each free kept-alive connection must go to one waiting request and stay open for the next
one. httpcore 1.0's pool (behind httpx 0.28) did neither: it handed one idle connection to
every request queued before the first of them ran, and all but one went round again, a
random number of times, before being sent (encode/httpcore#822, #1110); and above 50 open
connections it closed each one the moment it was free, since it counted busy connections as
idle. Both show here as connections the server did not need to accept, or as requests sent
so late that they went on a connection another request of the same wave had finished with.
The server records each request's client end (host, port): one per connection.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest

from autorouter.client import ChatClient, Endpoint, aclose_pools, close_pools
from openai_server import OpenAIServer

HELLO = [{"role": "user", "content": "hello"}]
# More than the 50 connections httpcore 1.0 kept alive, and enough that its churn delayed the
# last requests of a wave by seconds.
CALLS = 120
# The server holds each call this long before answering, so every call of a wave is in flight
# at once and a wave of CALLS calls needs CALLS connections (sending them all takes a fraction
# of it; the churn took several times it).
HOLD = "stall:1"


@pytest.fixture
def client(openai_server: OpenAIServer) -> ChatClient:
    openai_server.set_mode("model-a", HOLD)
    return ChatClient(Endpoint(base_url=openai_server.base_url, api_key_env=None, timeout=30))


@pytest.fixture
async def fresh_async_pools() -> AsyncIterator[None]:
    await aclose_pools()
    yield
    await aclose_pools()


@pytest.fixture
def fresh_sync_pools() -> Iterator[None]:
    close_pools()
    yield
    close_pools()


def connections(server: OpenAIServer, first: int) -> list[tuple[str, int] | None]:
    """The client end of the connection each request from the `first`-th on came on."""
    return [r.peer for r in server.requests[first:]]


async def test_async_waves_of_calls_keep_their_connections(
    client: ChatClient, openai_server: OpenAIServer, fresh_async_pools: None
) -> None:
    """CALLS concurrent calls open CALLS connections, one call on each; the next waves go
    out on the same connections, again one call on each, and open none."""
    waves = []
    for _ in range(3):
        start = len(openai_server.requests)
        answers = await asyncio.gather(*(client.acomplete("model-a", HELLO) for _ in range(CALLS)))
        assert [a.text for a in answers] == ["[model-a] hello"] * CALLS
        waves.append(connections(openai_server, start))
    first = set(waves[0])
    assert len(waves[0]) == len(first) == CALLS  # nothing sent twice; one call a connection
    for wave in waves[1:]:
        assert len(wave) == len(set(wave)) == CALLS
        assert set(wave) == first  # no connection closed, none opened


def test_sync_waves_of_calls_keep_their_connections(
    client: ChatClient, openai_server: OpenAIServer, fresh_sync_pools: None
) -> None:
    """The sync pool, shared by CALLS threads, does the same."""
    gate = threading.Barrier(CALLS)

    def call(_: int) -> str:
        gate.wait()
        return client.complete("model-a", HELLO).text

    waves = []
    with ThreadPoolExecutor(CALLS) as threads:
        for _ in range(2):
            start = len(openai_server.requests)
            assert list(threads.map(call, range(CALLS))) == ["[model-a] hello"] * CALLS
            waves.append(connections(openai_server, start))
    first, second = waves
    assert len(first) == len(set(first)) == CALLS
    assert len(second) == len(set(second)) == CALLS
    assert set(second) == set(first)
