"""One way to serve a fake on loopback: an aiohttp app on 127.0.0.1, in a background thread with
its own event loop, so that a synchronous test (or the engine's own ``asyncio.run``) can call it.
The mock server and the fakes of the batch APIs subclass :class:`LoopbackServer`."""

from __future__ import annotations

import asyncio
import threading
from typing import Self

from aiohttp import web


class LoopbackServer:
    """Serves :meth:`make_app` on ``host:port`` (port 0: a free one, known once started);
    ``with Server() as srv: ...`` starts and stops it."""

    thread_name = "loopback"
    backlog = 128

    def __init__(self, *, host: str = "127.0.0.1", port: int = 0) -> None:
        self.host = host
        self.port = port
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()

    def make_app(self) -> web.Application:
        raise NotImplementedError

    def started(self) -> None:
        """Called once the port is known (before :meth:`start` returns)."""

    def start(self) -> Self:
        runner = web.AppRunner(self.make_app(), access_log=None)

        async def serve() -> None:
            await runner.setup()
            site = web.TCPSite(runner, self.host, self.port, backlog=self.backlog)
            await site.start()
            sockets = getattr(site._server, "sockets", None)
            if sockets:
                self.port = int(sockets[0].getsockname()[1])
            self.started()

        def main() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            asyncio.set_event_loop(loop)
            loop.run_until_complete(serve())
            self._ready.set()
            loop.run_forever()
            loop.run_until_complete(runner.cleanup())
            loop.close()

        self._thread = threading.Thread(target=main, name=self.thread_name, daemon=True)
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError(f"{type(self).__name__} did not start")
        return self

    def stop(self) -> None:
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
        if self._thread is not None:
            self._thread.join(10)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
