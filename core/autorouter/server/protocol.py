"""The HTTP server's side, for uvicorn: `uvicorn_options` and the gateway's h11 protocol
(`gateway_http_protocol`), which gives each request's headers a deadline and sets TCP_NODELAY
on every connection."""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import socket
from typing import Any

from ..errors import ServerConfigError
from .settings import (
    DEFAULT_HEADER_TIMEOUT_S,
    DEFAULT_KEEP_ALIVE_S,
    ENV_HEADER_TIMEOUT_S,
    _check_seconds,
    _env_seconds,
)

logger = logging.getLogger("autorouter.server")

# --- the HTTP server's side: header deadline, TCP_NODELAY --------------------------------


def uvicorn_options(*, header_timeout_s: float | None = None) -> dict[str, Any]:
    """Keyword arguments for `uvicorn.run(...)` / `uvicorn.Config(...)` that make uvicorn fit
    to face clients beyond loopback (see "Serving beyond loopback" in the `autorouter.server`
    docstring): the gateway's h11 protocol (`gateway_http_protocol`: a deadline for each request's
    headers, TCP_NODELAY on every connection), no WebSocket upgrades (the gateway has no
    WebSocket route), and uvicorn's keep-alive timeout said explicitly.

    Args:
        header_timeout_s: the header deadline; None reads AUTOROUTER_HEADER_TIMEOUT_S (10 s if
            unset) in each worker. A value is kept in-process (a `functools.partial`), which
            `--workers` > 1 can carry too: it is pickled by reference.
    """
    protocol: Any = "autorouter.server:gateway_http_protocol"
    if header_timeout_s is not None:
        protocol = functools.partial(gateway_http_protocol, header_timeout_s=_check_seconds(
            "header_timeout_s", header_timeout_s))
    return {"http": protocol, "ws": "none", "timeout_keep_alive": DEFAULT_KEEP_ALIVE_S}


def gateway_http_protocol(
    config: Any, server_state: Any, app_state: Any, _loop: Any = None, *,
    header_timeout_s: float | None = None,
) -> asyncio.Protocol:
    """A connection's protocol for uvicorn (`http=`): uvicorn's h11 protocol, plus

    - a header deadline: each request's headers must have arrived `header_timeout_s` after
      the connection opened or the previous answer ended, or the connection is answered 408
      (when part of a request came) and closed. uvicorn has none of its own for h11 (its
      keep-alive timer covers only silence, and any byte resets it), so slowloris clients
      could hold connections forever;
    - TCP_NODELAY: asyncio sets it only on sockets whose listening socket named IPPROTO_TCP,
      which uvicorn's own bind (`--workers`, `--fd`) does not, leaving Nagle's algorithm to
      delay every kept-alive answer by ~40 ms (uvicorn issue #3149).

    uvicorn calls it with its config and state, as it would a protocol class; the class is
    built on first use so this module imports without uvicorn.
    """
    seconds = header_timeout_s if header_timeout_s is not None else _header_timeout_from_env()
    protocol: asyncio.Protocol = _guarded_h11()(config, server_state, app_state, _loop,
                                                 header_timeout_s=seconds)
    return protocol


def _header_timeout_from_env() -> float:
    try:
        return _env_seconds(ENV_HEADER_TIMEOUT_S, DEFAULT_HEADER_TIMEOUT_S)
    except ServerConfigError:  # app_from_env refuses it at startup; a connection must not fail
        return DEFAULT_HEADER_TIMEOUT_S


def _set_nodelay(transport: asyncio.BaseTransport) -> None:
    sock = transport.get_extra_info("socket")
    if sock is None or sock.family not in (socket.AF_INET, socket.AF_INET6):
        return
    try:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    except OSError:  # a closing socket: it has nothing left to delay
        pass


@functools.cache
def _guarded_h11() -> type[Any]:
    """uvicorn's H11Protocol with the header deadline and TCP_NODELAY (see
    `gateway_http_protocol`)."""
    # uvicorn (and its h11) is the `serve` extra: imported here so this module imports without it
    import h11
    from uvicorn.protocols.http.h11_impl import H11Protocol

    class GatewayH11Protocol(H11Protocol):
        def __init__(self, config: Any, server_state: Any, app_state: dict[str, Any],
                     _loop: asyncio.AbstractEventLoop | None = None, *,
                     header_timeout_s: float) -> None:
            super().__init__(config, server_state, app_state, _loop)
            self.header_timeout_s = header_timeout_s
            self.head_timer: asyncio.TimerHandle | None = None

        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            super().connection_made(transport)  # type: ignore[arg-type]
            _set_nodelay(transport)
            self._arm()

        def connection_lost(self, exc: Exception | None) -> None:
            self._disarm()
            super().connection_lost(exc)

        def handle_events(self) -> None:
            cycle = self.cycle
            super().handle_events()
            if self.cycle is not cycle:  # a request's headers arrived: the app has it now
                self._disarm()

        def on_response_complete(self) -> None:
            # The next request's headers are due from now on; one already here (pipelined)
            # is parsed by the call below, which disarms the timer at once.
            self._arm()
            super().on_response_complete()

        def _arm(self) -> None:
            self._disarm()
            self.head_timer = self.loop.call_later(self.header_timeout_s, self._too_slow)

        def _disarm(self) -> None:
            if self.head_timer is not None:
                self.head_timer.cancel()
                self.head_timer = None

        def _too_slow(self) -> None:
            self.head_timer = None
            if self.transport.is_closing():
                return
            if self.cycle is not None and not self.cycle.response_complete:
                return  # a request is being served: its body has the app's own deadline
            started = self.conn.our_state is h11.IDLE and self.conn.their_state is h11.IDLE \
                and bool(self.conn.trailing_data[0])
            if started:  # part of a request came: say why (written raw: h11 sends no
                # response before a request's headers are complete)
                body = json.dumps({"error": {
                    "message": f"The request's headers did not arrive within "
                               f"{self.header_timeout_s:g} seconds.",
                    "type": "invalid_request_error", "param": None, "code": "request_timeout",
                }}).encode()
                self.transport.write(
                    b"HTTP/1.1 408 Request Timeout\r\ncontent-type: application/json\r\n"
                    b"connection: close\r\ncontent-length: %d\r\n\r\n%s" % (len(body), body))
            logger.debug("closed a connection that sent no complete request head in %gs",
                         self.header_timeout_s)
            self.transport.close()

    return GatewayH11Protocol
