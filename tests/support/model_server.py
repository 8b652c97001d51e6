"""A local HTTP server standing in for the model sources (through the mirror setting).

It serves bytes by URL path with ``Range`` support, may send Hugging Face's headers
(``X-Repo-Commit``, ``X-Linked-Etag``), on a redirect to a "CDN" path as Hugging Face does, may drop the connection midway through a path's first full
transfer, and records every request. One thread, stopped and joined by :meth:`stop`.
"""
from __future__ import annotations

import re
import threading
from pathlib import Path
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, HTTPServer


@dataclass
class Served:
    files: dict[str, bytes] = field(default_factory=dict)  # URL path -> content
    headers: dict[str, dict[str, str]] = field(default_factory=dict)  # URL path -> extra headers
    drop_after: dict[str, int] = field(default_factory=dict)  # URL path -> bytes sent before hanging up, once
    hold: dict[str, tuple[int, threading.Event]] = field(default_factory=dict)  # path -> (bytes sent, then wait)
    redirects: dict[str, tuple[str, dict[str, str]]] = field(default_factory=dict)  # path -> (target, headers)
    requests: list[tuple[str, str | None]] = field(default_factory=list)  # (path, Range header)


class ModelServer:
    def __init__(self) -> None:
        self.served = Served()
        served = self.served

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:  # keep the test output clean
                pass

            def do_GET(self) -> None:
                served.requests.append((self.path, self.headers.get("Range")))
                if self.path in served.redirects:
                    target, headers = served.redirects[self.path]
                    self.send_response(302)
                    self.send_header("Location", target)
                    self.send_header("Content-Length", "0")
                    for name, value in headers.items():
                        self.send_header(name, value)
                    self.end_headers()
                    self.close_connection = True
                    return
                body = served.files.get(self.path)
                if body is None:
                    self.send_error(404, "Not Found")
                    return
                start = 0
                match = re.fullmatch(r"bytes=(\d+)-", self.headers.get("Range") or "")
                if match and int(match.group(1)) < len(body):
                    start = int(match.group(1))
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
                else:
                    self.send_response(200)
                self.send_header("Content-Length", str(len(body) - start))
                for name, value in served.headers.get(self.path, {}).items():
                    self.send_header(name, value)
                self.end_headers()
                cut = served.drop_after.pop(self.path, None) if start == 0 else None
                held = served.hold.pop(self.path, None) if start == 0 else None
                if held is not None:  # part of the file, then nothing until the test says so
                    self.wfile.write(body[:held[0]])
                    self.wfile.flush()
                    held[1].wait(10.0)
                    start = held[0]
                self.wfile.write(body[start:cut] if cut is not None else body[start:])
                self.close_connection = True

        self.httpd = HTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, name="model-server", daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join()


def serve_models(monkeypatch, tmp_path: Path) -> ModelServer:
    """A started server set as the model mirror, with the caches (home, torch hub, Hugging Face)
    and the settings inside ``tmp_path`` and no proxy for 127.0.0.1; the caller stops it."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    for name in ("XDG_CACHE_HOME", "HF_HUB_CACHE", "http_proxy", "HTTP_PROXY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.setenv("no_proxy", "127.0.0.1")
    monkeypatch.setenv("RVQ_STUDIO_SETTINGS", str(tmp_path / "settings.ini"))
    source = ModelServer()
    monkeypatch.setenv("RVQ_STUDIO_MODEL_MIRROR", source.url)
    return source


def without_family(monkeypatch, key: str) -> None:
    """The model registry as a version of the program without the ``key`` family has it."""
    from model import registry

    monkeypatch.setattr(registry, "FAMILIES", {k: f for k, f in registry.FAMILIES.items() if k != key})
