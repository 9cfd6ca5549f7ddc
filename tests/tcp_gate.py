"""A TCP gate in front of the machine's PostgreSQL, for tests of a server that goes away.

The server itself is never stopped or reconfigured (it is shared): a store connects through the
gate instead, and the gate plays the outage. `cut("refuse")` drops every connection through it
and closes new ones at once (a server that is down); `cut("silent")` drops them and then accepts
new ones without a word (a network cut: a connect attempt waits for its timeout); `open()`
forwards again (the server is back).
"""

from __future__ import annotations

import contextlib
import socket
import threading
from typing import Literal

Mode = Literal["open", "refuse", "silent"]


class Gate:
    def __init__(self, target: tuple[str, int] = ("127.0.0.1", 5432)) -> None:
        self._target = target
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._listener.getsockname()[1]
        self._mode: Mode = "open"
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def url(self, database_url: str) -> str:
        """`database_url` (on the target's host and port) through this gate."""
        host, port = self._target
        through = database_url.replace(f"@{host}:{port}/", f"@127.0.0.1:{self.port}/")
        if through == database_url:
            raise ValueError(f"{database_url!r} does not name {host}:{port} after its user")
        return through

    def cut(self, mode: Mode) -> None:
        with self._lock:
            self._mode = mode
            dropped, self._sockets = self._sockets, []
        for sock in dropped:
            _close(sock)

    def open(self) -> None:
        with self._lock:
            self._mode = "open"

    def close(self) -> None:
        self.cut("refuse")
        _close(self._listener)

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return  # closed
            with self._lock:
                mode = self._mode
                if mode == "silent":
                    self._sockets.append(client)  # held open, never answered
            if mode == "refuse":
                _close(client)
            elif mode == "open":
                self._forward(client)

    def _forward(self, client: socket.socket) -> None:
        try:
            server = socket.create_connection(self._target)
        except OSError:
            _close(client)
            return
        with self._lock:
            self._sockets += [client, server]
        for source, sink in ((client, server), (server, client)):
            threading.Thread(target=_pump, args=(source, sink), daemon=True).start()


def _pump(source: socket.socket, sink: socket.socket) -> None:
    try:
        while data := source.recv(65536):
            sink.sendall(data)
    except OSError:
        pass
    _close(source)
    _close(sink)


def _close(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    sock.close()
