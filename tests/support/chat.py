"""A fake OpenAI-compatible chat endpoint (``POST /v1/chat/completions``), served in this process.

It plays llama.cpp server, Ollama or vLLM for the LLM clean-up: each request is recorded, and the test
decides the answer with ``reply`` (status, body, delay), so it can answer well, slowly, with errors or
with garbage. A delayed answer waits on ``release``, which :meth:`ChatServer.close` sets: no handler thread
outlives the server.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

Reply = Callable[[dict[str, Any]], tuple[int, bytes, float]]  # request JSON -> (status, body, delay s)


def completion(content: Any) -> bytes:
    """A chat completion whose first choice says ``content``."""
    return json.dumps({"object": "chat.completion", "choices": [
        {"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}]}).encode()


def user_text(request: dict[str, Any]) -> str:
    """The text a chat request asks to have cleaned (its user message)."""
    return request["messages"][1]["content"]


def echo(request: dict[str, Any]) -> tuple[int, bytes, float]:
    """The default answer: the user's text back, at once."""
    return 200, completion(user_text(request)), 0.0


class ChatServer:
    """``POST {url}/chat/completions`` on a loopback port; ``requests`` holds what was asked, in order, each as
    ``{"path", "headers", "json"}``."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.reply: Reply = echo
        self.release = threading.Event()  # ends every delay at once
        chat = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                chat.requests.append({"path": self.path, "headers": dict(self.headers), "json": body})
                status, payload, delay = chat.reply(body)
                if delay:
                    chat.release.wait(delay)
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                except OSError:
                    pass  # the client gave up waiting

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        """The base URL, as ``llm.url`` names it."""
        return f"http://127.0.0.1:{self.server.server_address[1]}/v1"

    def __enter__(self) -> ChatServer:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(10)
