"""One resumable HTTP transfer into a ``.part`` file, with urllib (proxies from the environment,
as urllib reads them) and a timeout on every network wait.

A ``.part`` file that already holds bytes is continued with an HTTP ``Range`` request; a server
that answers with the whole file instead starts it over. Every failure -- offline, refused,
HTTP error, proxy, timeout, a dropped connection, a full disk, the user's cancel -- is one
:class:`DownloadError` whose message is one line for people; the bytes received so far stay in
the ``.part`` file, so the same command resumes where it stopped.
"""
from __future__ import annotations

import errno
import http.client
import os
import re
import socket
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

try:
    import fcntl
except ImportError:  # Windows: no lock against a second download of the same file
    fcntl = None

CHUNK = 1 << 16
TIMEOUT_S = 30.0
Progress = Callable[[int, int], None]  # (bytes so far, total bytes; 0 while unknown)


class DownloadError(RuntimeError):
    """A transfer or verification that failed, with a one-line message meant for people."""


class DownloadCancelled(DownloadError):
    """The user stopped the transfer; what arrived is kept for resuming."""


@dataclass(frozen=True)
class Received:
    path: Path  # the complete .part file
    size: int
    headers: dict[str, str]  # the last response's headers, names in lower case


def mirrored(url: str, mirror: str | None) -> str:
    """``url`` with its scheme and host replaced by ``mirror`` (which may carry a path prefix)."""
    if not mirror:
        return url
    source = urllib.parse.urlsplit(url)
    base = mirror.rstrip("/")
    return f"{base}{source.path}" + (f"?{source.query}" if source.query else "")


def fetch(url: str, part: Path, progress: Progress | None = None,
          cancelled: Callable[[], bool] | None = None, timeout: float = TIMEOUT_S) -> Received:
    """Download ``url`` into ``part``, continuing the bytes ``part`` already holds."""
    with _exclusive(part) as out:
        try:
            return _fetch_into(out, url, part, progress, cancelled, timeout)
        finally:
            if out.tell() == 0:  # nothing arrived: no empty .part left behind
                part.unlink(missing_ok=True)


def _fetch_into(out: BinaryIO, url: str, part: Path, progress: Progress | None,
                cancelled: Callable[[], bool] | None, timeout: float) -> Received:
    have = out.seek(0, os.SEEK_END)
    request = urllib.request.Request(url, headers={"User-Agent": "rvq-studio", "Accept-Encoding": "identity"})
    if have:
        request.add_header("Range", f"bytes={have}-")
    redirects = _RecordedRedirects()
    try:
        response = urllib.request.build_opener(redirects).open(request, timeout=timeout)
    except urllib.error.HTTPError as exc:
        if exc.code == 416 and have and _complete_size(exc.headers) == have:
            return Received(part, have, _lower(exc.headers))  # the .part already holds everything
        raise DownloadError(f"{url}: HTTP {exc.code} {exc.reason}") from None
    except (urllib.error.URLError, OSError, http.client.HTTPException, ValueError) as exc:
        raise DownloadError(f"cannot reach {_host(url)}: {_reason(exc)}{_proxy_note(url)}") from None
    with response:
        headers = {**_lower(response.headers), **redirects.source_headers}
        if response.status == 206 and _range_start(headers) == have:
            total = _complete_size(response.headers) or 0
        else:  # the whole file: a server without ranges, or a .part that did not match
            out.truncate(0)
            have, total = 0, int(headers.get("content-length", 0) or 0)
        have = _copy(response, out, part, have, total, url, progress, cancelled)
    if total and have != total:
        raise DownloadError(f"{url}: the connection ended after {have} of {total} bytes; "
                            "run the same command again to resume")
    return Received(part, have, headers)


@contextmanager
def _exclusive(part: Path) -> Iterator[BinaryIO]:
    """``part`` open for appending, locked against a second download of the same file (another
    command, or the studio's dialog) for the transfer's whole life; where ``flock`` does not
    exist, unlocked."""
    try:
        part.parent.mkdir(parents=True, exist_ok=True)
        out = open(part, "ab", buffering=0)  # unbuffered: what write_chunk returned from is on disk
    except OSError as exc:
        raise DownloadError(f"{part.parent}: {exc.strerror or exc}") from None
    with out:
        if fcntl is not None:
            try:
                fcntl.flock(out, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                raise DownloadError(f"{part.name}: another download of this file is running") from None
        yield out


class _RecordedRedirects(urllib.request.HTTPRedirectHandler):
    """Follows redirects as urllib does, keeping the ``X-`` headers of the redirecting answers:
    Hugging Face states a large file's commit and sha256 (``X-Repo-Commit``, ``X-Linked-Etag``) on
    the redirect to its CDN, whose own answer does not repeat them."""

    def __init__(self) -> None:
        super().__init__()
        self.source_headers: dict[str, str] = {}

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        for name, value in headers.items():
            if name.lower().startswith("x-") and name.lower() not in self.source_headers:
                self.source_headers[name.lower()] = value
        return super().redirect_request(req, fp, code, msg, headers, newurl)


def _copy(response, out: BinaryIO, part: Path, have: int, total: int, url: str,
          progress: Progress | None, cancelled: Callable[[], bool] | None) -> int:
    try:
        while True:
            if cancelled is not None and cancelled():
                raise DownloadCancelled(f"cancelled after {have} bytes; getting it again resumes there")
            try:
                chunk = response.read(CHUNK)
            except (OSError, http.client.HTTPException) as exc:  # dropped, reset, timed out
                raise DownloadError(f"{url}: the connection broke after {have} bytes ({_reason(exc)}); "
                                    "run the same command again to resume") from None
            if not chunk:
                return have
            write_chunk(out, chunk)
            have += len(chunk)
            if progress is not None:
                progress(have, total)
    except DownloadError:
        raise
    except OSError as exc:
        what = "no space left on the disk" if exc.errno == errno.ENOSPC else (exc.strerror or str(exc))
        kept = part.stat().st_size if part.is_file() else 0
        raise DownloadError(f"{part.parent}: {what} ({kept} bytes kept in {part.name} for resuming)") from None


def write_chunk(stream: BinaryIO, chunk: bytes) -> None:
    """Append ``chunk``; the one place a download writes (where a full disk shows). An unbuffered
    write may take part of it (a disk filling up): the rest is written until an error says why not."""
    view = memoryview(chunk)
    while view:
        view = view[stream.write(view):]


def _lower(headers) -> dict[str, str]:
    return {k.lower(): v for k, v in headers.items()} if headers is not None else {}


def _range_start(headers: dict[str, str]) -> int | None:
    match = re.match(r"bytes (\d+)-\d+/", headers.get("content-range", ""))
    return int(match.group(1)) if match else None


def _complete_size(headers) -> int | None:
    match = re.search(r"/(\d+)$", (headers or {}).get("Content-Range", "") or "")
    return int(match.group(1)) if match else None


def _host(url: str) -> str:
    return urllib.parse.urlsplit(url).netloc or url


def _reason(exc: BaseException) -> str:
    reason = getattr(exc, "reason", None) or exc
    if isinstance(reason, socket.timeout | TimeoutError):
        return "timed out"
    if isinstance(reason, socket.gaierror):
        return "the name does not resolve (offline?)"
    text = getattr(reason, "strerror", None) or str(reason) or type(reason).__name__
    return text.splitlines()[0]


def _proxy_note(url: str) -> str:
    proxy = urllib.request.getproxies().get(urllib.parse.urlsplit(url).scheme)
    return f" (through the proxy {proxy})" if proxy and not urllib.request.proxy_bypass(_host(url)) else ""
