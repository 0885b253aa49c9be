"""Running a candidate isolated from the caller: LangSmith tracing off, and a context
without the caller's runnable config, so that callbacks and tracing see one chat-model run
per call, the router's, and no orphan run of the candidate."""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any, TypeVar

from langchain_core.runnables.config import var_child_runnable_config

T = TypeVar("T")


def no_tracing() -> contextlib.AbstractContextManager[Any]:
    """LangSmith tracing off: an isolated inner call must not show up as an orphan trace."""
    try:  # guarded: without langsmith there is no tracing to turn off
        from langsmith import tracing_context
    except ImportError:  # pragma: no cover - langsmith ships with langchain-core
        return contextlib.nullcontext()
    return tracing_context(enabled=False)


def _cleared_context() -> contextvars.Context:
    """A copy of the current context without the parent runnable config, whose callbacks a
    `RunnableBinding` would otherwise merge into the inner call."""
    ctx = contextvars.copy_context()
    ctx.run(var_child_runnable_config.set, None)
    return ctx


def run_isolated(fn: Callable[[], T]) -> T:
    return _cleared_context().run(fn)


async def arun_isolated(make: Callable[[], Awaitable[T]]) -> T:
    async def run() -> T:
        return await make()

    return await asyncio.create_task(run(), context=_cleared_context())


def iterate_isolated(iterator: Iterator[T]) -> Iterator[T]:
    ctx = _cleared_context()
    while True:
        try:
            item = ctx.run(next, iterator)
        except StopIteration:
            return
        yield item


async def aiterate_isolated(iterator: AsyncIterator[T]) -> AsyncIterator[T]:
    ctx = _cleared_context()
    while True:
        try:
            item = await asyncio.create_task(_anext(iterator), context=ctx)
        except StopAsyncIteration:
            return
        yield item


async def _anext(iterator: AsyncIterator[T]) -> T:
    return await iterator.__anext__()
