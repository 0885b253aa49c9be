"""The process's shared upstream connection pools: one httpx2 client per base URL, and per
event loop for the async ones, kept alive between calls.

`autorouter.client` sends every call through them and re-exports `close_pools` and
`aclose_pools`.
"""

from __future__ import annotations

import asyncio
import atexit
import threading
import weakref

import httpx2

__all__ = ["aclose_pools", "async_pool", "close_pools", "sync_pool"]

# The pools are httpx2's (Pydantic's maintained fork of httpx, same API), not httpx 0.28's: its
# httpcore 1.0 pool hands an idle connection to every request queued before the first of them
# runs, and all but one then go round again, a random number of times (encode/httpcore#822,
# #1110); and its keep-alive cleanup counts busy connections as idle, so with more than
# `max_keepalive_connections` open it closes each one the moment it is free. Under 32-128
# concurrent calls the gateway's p99 was 3-5.5x its p50 on it, 1.1-2.3x on httpx2 (httpcore2
# 2.8+ gives a free connection to one request; 2.0+ counts idle ones). Its errors are its own
# classes (httpx2.HTTPError is no httpx.HTTPError): `autorouter.client` catches every one and
# makes it a ProviderError. It verifies TLS against the system's trust store (SSL_CERT_FILE or
# SSL_CERT_DIR when set), not certifi's bundle. As many connections stay alive as may be open:
# a burst's connections serve the next burst instead of new handshakes, until idle for the
# keep-alive expiry (5 s).
_LIMITS = httpx2.Limits(max_connections=200, max_keepalive_connections=200)
_pools_lock = threading.Lock()
_sync_pools: dict[str, httpx2.Client] = {}
# An AsyncClient is bound to the loop it first ran on, so there is one per loop; a loop
# that is garbage-collected takes its clients with it.
_async_pools: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, httpx2.AsyncClient]]
_async_pools = weakref.WeakKeyDictionary()


def _pool_key(base_url: str) -> str:
    return base_url.rstrip("/")


def sync_pool(base_url: str) -> httpx2.Client:
    """The shared sync client for `base_url` (opened, or reopened once closed, on demand)."""
    key = _pool_key(base_url)
    with _pools_lock:
        client = _sync_pools.get(key)
        if client is None or client.is_closed:
            client = _sync_pools[key] = httpx2.Client(limits=_LIMITS, follow_redirects=False)
        return client


def async_pool(base_url: str) -> httpx2.AsyncClient:
    """The running event loop's shared async client for `base_url` (opened on demand)."""
    loop = asyncio.get_running_loop()
    key = _pool_key(base_url)
    with _pools_lock:
        clients = _async_pools.setdefault(loop, {})
        client = clients.get(key)
        if client is None or client.is_closed:
            client = clients[key] = httpx2.AsyncClient(limits=_LIMITS, follow_redirects=False)
        return client


def close_pools() -> None:
    """Close the process's shared sync connection pools (they reopen on the next call)."""
    with _pools_lock:
        clients = list(_sync_pools.values())
        _sync_pools.clear()
    for client in clients:
        client.close()


async def aclose_pools() -> None:
    """Close the running event loop's shared async connection pools."""
    with _pools_lock:
        clients = list(_async_pools.pop(asyncio.get_running_loop(), {}).values())
    for client in clients:
        await client.aclose()


atexit.register(close_pools)
