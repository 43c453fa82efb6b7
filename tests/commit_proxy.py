"""A TCP proxy in front of the test server that can lose one COMMIT, or its answer.

It forwards bytes both ways without looking at them, except for the client's simple
query ``COMMIT`` once armed:

* ``lose="commit"``: the COMMIT never reaches the server, and both connections are
  closed: the server rolls the transaction back, the client does not know;
* ``lose="answer"``: the COMMIT reaches the server, which commits; its answer is thrown
  away and both connections are closed: the client does not know it committed.

Either way the client sees its connection fail at commit, which is what a server
restart or a network failure does to it.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Iterator

from psycopg.conninfo import conninfo_to_dict, make_conninfo

# A simple-query message ('Q', its length, the text and a NUL) that is exactly COMMIT.
COMMIT = b"Q\x00\x00\x00\x0bCOMMIT\x00"


class CommitProxy:
    def __init__(self, dsn: str) -> None:
        params = conninfo_to_dict(dsn)
        self.target = (str(params.get("host", "127.0.0.1")), int(params.get("port", 5432)))
        self.listener = socket.create_server(("127.0.0.1", 0))
        params["host"], params["port"] = "127.0.0.1", str(self.listener.getsockname()[1])
        self.dsn = make_conninfo(**params)  # type: ignore[arg-type]
        self.lose: str | None = None
        self.lost = threading.Event()
        self._lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def arm(self, lose: str) -> None:
        """Lose the next COMMIT (``"commit"``) or its answer (``"answer"``)."""
        assert lose in ("commit", "answer")
        self.lost.clear()
        self.lose = lose

    def close(self) -> None:
        self.listener.close()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            server = socket.create_connection(self.target)
            drop_answer = threading.Event()
            threading.Thread(target=self._upstream, args=(client, server, drop_answer), daemon=True).start()
            threading.Thread(target=self._downstream, args=(server, client, drop_answer), daemon=True).start()

    def _take(self) -> str | None:
        with self._lock:
            lose, self.lose = self.lose, None
            return lose

    def _upstream(self, client: socket.socket, server: socket.socket, drop_answer: threading.Event) -> None:
        with contextlib.suppress(OSError):
            while data := client.recv(65536):
                if COMMIT in data and (lose := self._take()) is not None:
                    if lose == "answer":
                        drop_answer.set()
                        server.sendall(data)
                        return
                    self.lost.set()
                    _close(client, server)
                    return
                server.sendall(data)
        _close(client, server)

    def _downstream(self, server: socket.socket, client: socket.socket, drop_answer: threading.Event) -> None:
        with contextlib.suppress(OSError):
            while data := server.recv(65536):
                if drop_answer.is_set():
                    self.lost.set()
                    break
                client.sendall(data)
        _close(client, server)


def _close(*sockets: socket.socket) -> None:
    for sock in sockets:
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)
        sock.close()


@contextlib.contextmanager
def commit_proxy(dsn: str) -> Iterator[CommitProxy]:
    proxy = CommitProxy(dsn)
    try:
        yield proxy
    finally:
        proxy.close()
