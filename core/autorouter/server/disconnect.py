"""Noticing a client that leaves: the router call it was waiting for is cancelled (its
upstream connection closed, no further retry or fallback started), and streams are closed
quietly."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import TYPE_CHECKING, Any, TypeVar

from .responses import _ClientGone

if TYPE_CHECKING:
    from starlette.requests import Request

T = TypeVar("T")


async def _unless_client_leaves(request: Request, work: Awaitable[T]) -> T:
    """`await work`, cancelled (then `_ClientGone`) as soon as the client disconnects.

    Nothing reads from the client while a handler awaits the upstream, so the ASGI server's
    `http.disconnect` would go unnoticed and the router call (its retries and fallbacks
    included) would run on for nobody. A watcher waits for that message alongside; when it
    comes first the router call is cancelled, which closes its upstream connection, and
    awaited, so no further attempt starts once this returns.
    """
    task = asyncio.ensure_future(work)
    watcher = asyncio.ensure_future(_disconnected(request))
    try:
        await asyncio.wait((task, watcher), return_when=asyncio.FIRST_COMPLETED)
        if not task.done() and watcher.exception() is not None:
            await asyncio.wait((task,))  # the server's receive failed: nothing to watch for
    except BaseException:  # this handler was cancelled itself (shutdown): stop both
        task.cancel()
        watcher.cancel()
        raise
    gone = not task.done()
    watcher.cancel()
    task.cancel()  # a no-op when it is done
    await asyncio.wait((task, watcher))  # both unwound: no attempt can start after this
    if gone:
        if not task.cancelled():
            task.exception()  # retrieved, so asyncio does not log it as never retrieved
        raise _ClientGone("before its answer was ready")
    return task.result()


async def _disconnected(request: Request) -> None:
    """Returns when the server reports the client gone (the body has been read by then, so
    `receive` has nothing else to say)."""
    while (await request.receive())["type"] != "http.disconnect":
        pass


async def _quiet_close(stream: Any) -> None:
    try:
        await stream.aclose()
    except Exception:  # noqa: BLE001 - closing a broken stream must not hide the first error
        pass


