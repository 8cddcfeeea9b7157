"""The lab's HTTP probe (wolfpack.lab.probe_client): a reply cut short by a server that went
away is a failed try, not an answer '' (CI22: a power-off's gap began with '' instead of
the old node, and the two-node test failed on it)."""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Iterator

import pytest

from wolfpack.lab.probe_client import http_try


@contextlib.contextmanager
def serve_once(reply: bytes) -> Iterator[str]:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)

    def answer() -> None:
        conn, _ = listener.accept()
        with conn:
            conn.recv(4096)
            conn.sendall(reply)  # then close: a server killed mid-reply

    thread = threading.Thread(target=answer, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}/"
    finally:
        thread.join(5)
        listener.close()


HEAD = b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: %d\r\n\r\n"


def test_a_whole_page_names_its_node() -> None:
    page = b"<h1>Cluster jean: Web is served by node3</h1>"
    with serve_once(HEAD % len(page) + page) as url:
        assert http_try(url) == "node3"


@pytest.mark.parametrize("sent", [b"", b"<h1>Cluster jean: Web is se"])
def test_a_reply_cut_after_the_headers_is_a_failure(sent: bytes) -> None:
    with serve_once(HEAD % 45 + sent) as url:
        with pytest.raises(Exception) as info:
            http_try(url)
        assert "IncompleteRead" in type(info.value).__name__ or "empty" in str(info.value)
