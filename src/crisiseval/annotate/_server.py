"""Serving the app: a listening socket (so a port taken or refused is one clear line, and port 0
picks a free one) and uvicorn on it, quiet (no access log: request paths can hold link tokens).
"""

from __future__ import annotations

import ipaddress
import socket

import uvicorn
from fastapi import FastAPI

from crisiseval.errors import CrisisEvalError, InputError

__all__ = ["is_loopback", "is_wildcard", "listen", "run_server", "url_host"]


def is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def is_wildcard(host: str) -> bool:
    return host.strip("[]") in ("0.0.0.0", "::", "")


def url_host(host: str) -> str:
    """``host`` as it goes in a URL (an IPv6 address in brackets; a wildcard bind: this
    machine's name)."""
    if is_wildcard(host):
        return socket.gethostname()
    bare = host.strip("[]")
    return f"[{bare}]" if ":" in bare else bare


def listen(host: str, port: int) -> socket.socket:
    """A listening socket on (host, port); :class:`InputError` when that is not possible."""
    bare = host.strip("[]")
    try:
        infos = socket.getaddrinfo(bare, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise InputError(f"--host {host}: cannot resolve it ({exc.strerror})") from None
    family, kind, proto, _name, address = infos[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(128)  # connections wait in the backlog until uvicorn accepts them
    except OSError as exc:
        sock.close()
        raise InputError(
            f"{host}:{port}: cannot listen there ({exc.strerror or exc}); choose another --port"
        ) from None
    sock.set_inheritable(True)
    return sock


def run_server(app: FastAPI, sock: socket.socket) -> None:
    """Serve ``app`` on ``sock`` until stopped (Ctrl-C / SIGTERM end it gracefully, then the
    signal goes on to the caller as usual)."""
    config = uvicorn.Config(
        app,
        log_level="warning",
        access_log=False,
        server_header=False,
        proxy_headers=False,
        lifespan="on",
    )
    server = uvicorn.Server(config)
    try:
        server.run(sockets=[sock])
    except SystemExit as exc:  # uvicorn exits when the app cannot start
        raise CrisisEvalError(
            f"the annotation app could not start (exit {exc.code}; see the lines above)"
        ) from None
    finally:
        sock.close()
