"""The webhook receiver the drill's schedule delivers to: an HTTP server on the root side of the
drill's network that keeps every request with the address it came from (which host sent it)."""

import http.server
import threading
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Received:
    peer: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class WebhookReceiver:
    address: str
    port: int = 0  # 0: the OS picks one; `port` is the real one once started
    requests: list[Received] = field(default_factory=list)
    _server: http.server.ThreadingHTTPServer | None = None

    def url(self, path: str) -> str:
        return f"http://{self.address}:{self.port}{path}"

    def start(self) -> "WebhookReceiver":
        self._server = http.server.ThreadingHTTPServer((self.address, self.port), _handler(self))
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        threading.Thread(target=self._server.serve_forever, args=(0.1,), daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None


def _handler(receiver: WebhookReceiver) -> type[http.server.BaseHTTPRequestHandler]:
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            headers = {name.lower(): value for name, value in self.headers.items()}
            receiver.requests.append(Received(self.client_address[0], self.path, headers, body))
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args: Any) -> None:
            pass

    return Handler
