"""A real uvicorn serving an app on a free 127.0.0.1 port, in a thread, for the service tests."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import uvicorn


@contextmanager
def serving(app: Any, **config: Any) -> Iterator[tuple[int, uvicorn.Server]]:
    """`app` served until the block ends; (port, server). `config` goes to `uvicorn.Config`
    (e.g. `**server_options(limits)` for the limits of `medcode serve`)."""
    server = uvicorn.Server(uvicorn.Config(app, lifespan="on", **config))
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.01)
    assert server.started
    try:
        yield sock.getsockname()[1], server
    finally:
        server.should_exit = True
        thread.join(10)
