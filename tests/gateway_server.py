"""The gateway served in a daemon thread, for the tests: `with BackgroundServer(app) as s:`."""

from __future__ import annotations

import socket
import threading
import time
from typing import Any

from autorouter.server import uvicorn_options


class BackgroundServer:
    """Serve an ASGI app with uvicorn in a daemon thread on 127.0.0.1 (a free port unless
    given): `with BackgroundServer(app) as s: s.base_url`. It serves with `uvicorn_options()`
    (`header_timeout_s`: their header deadline; None for AUTOROUTER_HEADER_TIMEOUT_S or 10 s)."""

    def __init__(self, app: Any, *, host: str = "127.0.0.1", port: int = 0,
                 log_level: str = "warning", header_timeout_s: float | None = None) -> None:
        self.app = app
        self.host = host
        self.port = port
        self.log_level = log_level
        self.header_timeout_s = header_timeout_s
        self._server: Any = None
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        """The OpenAI-style base URL, e.g. `http://127.0.0.1:41234/v1`."""
        return f"http://{self.host}:{self.port}/v1"

    def start(self) -> BackgroundServer:
        import uvicorn

        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, self.port))
        self.port = sock.getsockname()[1]
        config = uvicorn.Config(
            self.app, loop="asyncio", lifespan="on", access_log=False, log_config=None,
            log_level=self.log_level, timeout_graceful_shutdown=2, backlog=2048,
            **uvicorn_options(header_timeout_s=self.header_timeout_s),
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [sock]},
                                        daemon=True, name="autorouter-gateway")
        self._thread.start()
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self._server.started:
                return self
            if not self._thread.is_alive():
                break
            time.sleep(0.01)
        raise RuntimeError("the gateway did not start")

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)
        self._server = self._thread = None

    def __enter__(self) -> BackgroundServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
