"""Live video sources for stream processors: frames read from a camera (RTSP, HTTP(S) MJPEG,
HLS) or from a local file played at its own frame rate, sampled at a set rate.

One background thread per source reads the stream as fast as it arrives (a camera's stream
must be drained, or it stalls or smears) and keeps only the newest frame that is due; the
consumer takes it when it is ready. A consumer slower than `rate` therefore misses frames,
which are counted (`SourceStats.frames_dropped`), and never builds a backlog. A dropped
camera is reopened with capped exponential back-off, reported through `on_status`.

Credentials in a URL are used to connect and nowhere else: every message, log line and
exception carries `redact_url(url)`.
"""

from __future__ import annotations

import http.client
import logging
import os
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit, urlunsplit

import cv2
import numpy as np

log = logging.getLogger("oculi.streams")

# FFmpeg's RTSP over TCP (interleaved): UDP is lost behind NAT and firewalls, and loses
# packets under load. Read by OpenCV when a capture opens; a value the operator set wins.
os.environ.setdefault("OPENCV_FFMPEG_CAPTURE_OPTIONS", "rtsp_transport;tcp")

OPEN_TIMEOUT_MS = 5000  # a dead camera fails its open within this
READ_TIMEOUT_MS = 3000  # per read; FFmpeg gives up on a hung RTSP camera after 3 such reads
BACKOFF_FIRST_S = 0.5
BACKOFF_MAX_S = 30.0
MAX_URL_CHARS = 2048
MAX_JPEG_BYTES = 32 * 1024 * 1024  # one MJPEG part; a bigger one ends the connection
MAX_UNDECODABLE = 25  # due frames in a row that do not decode end the connection
_SCHEMES = ("file", "rtsp", "rtsps", "http", "https")
_SECRET_QUERY_KEYS = ("pass", "pwd", "token", "secret", "key", "auth", "sig", "credential")


@dataclass(frozen=True)
class LiveFrame:
    position_ms: int  # file://: the frame's time in the file; live: ms since open_source began
    received_ms: int  # wall clock (epoch ms) when the frame was decoded
    rgb: np.ndarray  # HxWx3 uint8 RGB


@dataclass
class SourceStats:
    """Counters of one source, updated by its reader thread (read them at any time)."""

    frames_read: int = 0  # frames that arrived from the stream
    frames_delivered: int = 0  # frames the consumer took
    frames_dropped: int = 0  # due frames replaced by a newer one before the consumer took them
    reconnects: int = 0  # connections lost or failed, each followed by a back-off


class UnsupportedSource(ValueError):
    """A stream URL oculi will not open; the message names the URL only as redact_url does."""


def redact_url(url: str) -> str:
    """`url` without its user name and password (shown as `***`) and without the values of
    query parameters that look like secrets (password=, token=, ...)."""
    try:
        parts = urlsplit(url)
        netloc = parts.netloc
        if "@" in netloc:
            netloc = "***@" + netloc.rpartition("@")[2]
        query = parts.query
        if query:
            pairs = parse_qsl(query, keep_blank_values=True)
            query = urlencode(
                [
                    (k, "***" if any(s in k.lower() for s in _SECRET_QUERY_KEYS) else v)
                    for k, v in pairs
                ],
                safe="*",
            )
        return urlunsplit((parts.scheme, netloc, parts.path, query, ""))
    except ValueError:
        return "<unparsable URL>"


def _file_path(url: str, file_dir: Path | None) -> Path:
    """The regular file a file:// URL names, after symlinks, if it lies under `file_dir`."""
    if file_dir is None:
        raise UnsupportedSource("file:// sources are not enabled on this server")
    parts = urlsplit(url)
    if parts.netloc not in ("", "localhost") or parts.query or parts.fragment:
        raise UnsupportedSource(f"{redact_url(url)}: a file URL is file:///absolute/path")
    raw = unquote(parts.path)
    root = file_dir.resolve()
    refused = UnsupportedSource(f"{redact_url(url)} is not a video file under the stream directory")
    if "\x00" in raw or not raw.startswith("/"):
        raise refused
    try:
        path = Path(raw).resolve(strict=True)
    except (OSError, RuntimeError):
        raise refused from None
    if not path.is_relative_to(root) or not path.is_file():
        raise refused
    return path


def check_source_url(url: str, *, file_dir: Path | None) -> None:
    """UnsupportedSource unless `url` is a stream URL oculi can open: rtsp(s)://host...,
    http(s)://host... (MJPEG or HLS), or file:///path to a file under `file_dir` (symlinks
    resolved). Nothing is connected to."""
    if not isinstance(url, str) or not url:
        raise UnsupportedSource("the stream URL is empty")
    if len(url) > MAX_URL_CHARS:
        raise UnsupportedSource(f"the stream URL is longer than {MAX_URL_CHARS} characters")
    if any(ord(c) < 0x21 or ord(c) == 0x7F for c in url):
        raise UnsupportedSource(f"{redact_url(url)}: the URL has spaces or control characters")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise UnsupportedSource(f"{redact_url(url)} is not a valid URL") from None
    scheme = parts.scheme.lower()
    if scheme not in _SCHEMES:
        raise UnsupportedSource(
            f"{redact_url(url)}: streams are read from {', '.join(s + '://' for s in _SCHEMES)}"
        )
    if scheme == "file":
        _file_path(url, file_dir)
        return
    if not parts.hostname:
        raise UnsupportedSource(f"{redact_url(url)}: the URL names no host")
    if port == 0:
        raise UnsupportedSource(f"{redact_url(url)}: port 0")


def _safe_error(error: BaseException, url: str) -> str:
    """An exception's text with the URL's credentials taken out."""
    text = f"{type(error).__name__}: {error}" if str(error) else type(error).__name__
    parts = urlsplit(url)
    text = text.replace(url, redact_url(url))
    for secret in (parts.password, parts.username):
        if secret:
            text = text.replace(secret, "***").replace(unquote(secret), "***")
    return text


class _Connection(Protocol):
    def grab(self) -> bool: ...  # the next frame arrived (False: the stream ended or failed)

    def retrieve(self) -> np.ndarray | None: ...  # the grabbed frame as RGB

    def close(self) -> None: ...


class _Capture:
    """OpenCV's FFmpeg reader: files, RTSP, HLS and other streams FFmpeg demuxes."""

    def __init__(self, target: str, shown: str, *, live: bool) -> None:
        params = []
        if live:
            params = [
                cv2.CAP_PROP_OPEN_TIMEOUT_MSEC,
                OPEN_TIMEOUT_MS,
                cv2.CAP_PROP_READ_TIMEOUT_MSEC,
                READ_TIMEOUT_MS,
            ]
        self.cap = cv2.VideoCapture(target, cv2.CAP_FFMPEG, params)
        if not self.cap.isOpened():
            self.cap.release()
            raise ConnectionError(f"cannot open {shown}")
        self.fps = float(self.cap.get(cv2.CAP_PROP_FPS) or 0.0)

    def grab(self) -> bool:
        return bool(self.cap.grab())

    def retrieve(self) -> np.ndarray | None:
        ok, bgr = self.cap.retrieve()
        return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB) if ok and bgr is not None else None

    def close(self) -> None:
        self.cap.release()


def _http_get(url: str) -> http.client.HTTPResponse:
    """The open answer to GET `url`, with the URL's credentials sent as HTTP Basic at once
    and as Digest when the camera asks for it (to the URL's host only)."""
    parts = urlsplit(url)
    bare = urlunsplit(
        (parts.scheme, parts.netloc.rpartition("@")[2], parts.path or "/", parts.query, "")
    )
    handlers: list[urllib.request.BaseHandler] = []
    if parts.username is not None:
        user, password = unquote(parts.username), unquote(parts.password or "")
        basic = urllib.request.HTTPPasswordMgrWithPriorAuth()
        basic.add_password(None, bare, user, password, is_authenticated=True)
        digest = urllib.request.HTTPPasswordMgrWithDefaultRealm()
        digest.add_password(None, bare, user, password)
        handlers += [
            urllib.request.HTTPBasicAuthHandler(basic),
            urllib.request.HTTPDigestAuthHandler(digest),
        ]
    request = urllib.request.Request(
        bare, headers={"User-Agent": "oculi", "Accept": "multipart/x-mixed-replace, */*"}
    )
    opener = urllib.request.build_opener(*handlers)
    try:
        return opener.open(request, timeout=READ_TIMEOUT_MS / 1000)
    except urllib.error.HTTPError as e:
        e.close()
        raise ConnectionError(f"HTTP {e.code} {e.reason}") from None


class _NotMultipart(Exception):
    """The HTTP answer is no multipart stream (so FFmpeg should read it)."""


class _Mjpeg:
    """An HTTP(S) multipart/x-mixed-replace stream of JPEG parts; each part is decoded only
    when it is retrieved."""

    def __init__(self, url: str) -> None:
        self.resp = _http_get(url)
        ctype = self.resp.headers.get("Content-Type", "")
        if not ctype.lower().startswith("multipart/"):
            self.close()
            raise _NotMultipart(ctype)
        boundary = ""
        for param in ctype.split(";")[1:]:
            name, _, value = param.strip().partition("=")
            if name.lower() == "boundary":
                boundary = value.strip('"').lstrip("-")
        if not boundary:
            self.close()
            raise ConnectionError("multipart stream without a boundary")
        self.boundary = boundary.encode()
        self.jpeg = b""
        self.at_part = False  # the boundary line before the next part has been read

    def _is_boundary(self, line: bytes) -> bool:
        """A delimiter line: `--boundary` (cameras that declare `--boundary` often send it
        with no more dashes); EOFError at the closing `--boundary--`."""
        if not line.startswith(b"--"):
            return False
        name = line.rstrip().lstrip(b"-")
        if name == self.boundary:
            return True
        if name == self.boundary + b"--":
            raise EOFError
        return False

    def _line(self) -> bytes:
        line = self.resp.readline(65536)
        if not line:
            raise EOFError
        return line

    def _headers(self) -> dict[str, str]:
        headers = {}
        while (line := self._line()).strip():
            name, _, value = line.decode("latin-1").partition(":")
            headers[name.strip().lower()] = value.strip()
        return headers

    def _to_boundary(self) -> bytes:
        """The lines up to the next boundary line (which is read too); raises EOFError at
        the closing boundary."""
        chunks: list[bytes] = []
        size = 0
        while not self._is_boundary(line := self._line()):
            chunks.append(line)
            size += len(line)
            if size > MAX_JPEG_BYTES:
                raise ConnectionError("an MJPEG part is too large")
        return b"".join(chunks)

    def grab(self) -> bool:
        try:
            if not self.at_part:
                self._to_boundary()  # the preamble, or what follows a sized part
            headers = self._headers()
            length = headers.get("content-length", "")
            if length.isdigit():
                if int(length) > MAX_JPEG_BYTES:
                    raise ConnectionError("an MJPEG part is too large")
                self.jpeg = self.resp.read(int(length))
                if len(self.jpeg) < int(length):
                    raise EOFError
                self.at_part = False
            else:  # no Content-Length: the part runs up to the next boundary
                self.jpeg = self._to_boundary().removesuffix(b"\r\n")
                self.at_part = True
            return True
        except (EOFError, OSError, http.client.HTTPException):
            return False

    def retrieve(self) -> np.ndarray | None:
        bgr = cv2.imdecode(np.frombuffer(self.jpeg, np.uint8), cv2.IMREAD_COLOR)
        return None if bgr is None else cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)

    def close(self) -> None:
        self.resp.close()


def _connect(url: str, file_dir: Path | None) -> tuple[_Connection, float | None]:
    """An open connection, and the file's frame rate for file:// (None for live streams)."""
    scheme = urlsplit(url).scheme.lower()
    shown = redact_url(url)
    if scheme == "file":
        try:
            cap = _Capture(str(_file_path(url, file_dir)), shown, live=False)
        except ConnectionError:
            raise UnsupportedSource(f"{shown} is no video oculi can read") from None
        return cap, cap.fps if cap.fps > 0 else 25.0
    if scheme in ("http", "https") and not urlsplit(url).path.lower().endswith(".m3u8"):
        try:
            return _Mjpeg(url), None
        except _NotMultipart:
            pass  # HLS or another stream FFmpeg demuxes
    return _Capture(url, shown, live=True), None


class _Latest:
    """The newest due frame, handed from the reader thread to the consumer. Frames are due
    every 1/rate s of stream position, in phase (as stored video is sampled)."""

    def __init__(self, rate: float, stats: SourceStats) -> None:
        self.interval_ms = 1000.0 / rate
        self.next_due_ms = 0.0
        self.frame: LiveFrame | None = None
        self.ended = False
        self.stats = stats
        self.cond = threading.Condition()

    def due(self, position_ms: float) -> bool:
        return position_ms + 1e-6 >= self.next_due_ms

    def put(self, frame: LiveFrame, position_ms: float) -> None:
        with self.cond:
            if self.frame is not None:
                self.stats.frames_dropped += 1
            self.frame = frame
            while self.next_due_ms <= position_ms + 1e-6:
                self.next_due_ms += self.interval_ms
            self.cond.notify()

    def end(self) -> None:
        with self.cond:
            self.ended = True
            self.cond.notify()

    def take(self, stop: threading.Event) -> LiveFrame | None:
        """The next frame; None once the source ended or `stop` is set."""
        with self.cond:
            while self.frame is None and not self.ended and not stop.is_set():
                self.cond.wait(0.1)
            frame, self.frame = self.frame, None
            if frame is not None and not stop.is_set():
                self.stats.frames_delivered += 1
                return frame
            return None


class _Halt:
    """Set when the caller's `stop` is set or the consumer closed the iterator."""

    def __init__(self, stop: threading.Event) -> None:
        self.stop = stop
        self.closed = threading.Event()

    def is_set(self) -> bool:
        return self.stop.is_set() or self.closed.is_set()

    def wait(self, seconds: float) -> None:
        end = time.monotonic() + seconds
        while not self.is_set() and (left := end - time.monotonic()) > 0:
            self.closed.wait(min(left, 0.1))


class _Reader:
    """The reader thread of one source: connect, read, reconnect with back-off until `halt`
    is set (or a file ends); it never raises: a source that can never work ends FAILED."""

    def __init__(
        self,
        url: str,
        file_dir: Path | None,
        latest: _Latest,
        halt: _Halt,
        on_status: Callable[[str, str], None],
        stats: SourceStats,
    ) -> None:
        self.url, self.file_dir, self.latest, self.halt = url, file_dir, latest, halt
        self.on_status, self.stats = on_status, stats
        self.shown = redact_url(url)
        self.session = time.monotonic()  # live positions count from here
        self.backoff = BACKOFF_FIRST_S

    def run(self) -> None:
        try:
            while not self.halt.is_set():
                try:
                    conn, file_fps = _connect(self.url, self.file_dir)
                except UnsupportedSource:
                    raise
                except Exception as e:  # any failure to connect is retried
                    self._back_off(_safe_error(e, self.url))
                    continue
                try:
                    running = self._pump(conn, file_fps)
                finally:
                    conn.close()
                if file_fps is not None or self.halt.is_set():
                    return
                self._back_off(
                    "the stream ended or stopped sending" if running else "no frame could be read"
                )
        except UnsupportedSource as e:
            self.on_status("FAILED", str(e))
            log.warning("stream %s: %s", self.shown, e)
        except Exception as e:  # reported, never raised from the thread
            self.on_status("FAILED", f"{self.shown}: {_safe_error(e, self.url)}")
            log.error("stream %s failed: %s", self.shown, _safe_error(e, self.url))
        finally:
            self.latest.end()

    def _back_off(self, why: str) -> None:
        self.stats.reconnects += 1
        message = f"{self.shown}: {why}; reconnecting in {self.backoff:g} s"
        self.on_status("RECONNECTING", message)
        log.warning("stream %s", message)
        self.halt.wait(self.backoff)
        self.backoff = min(self.backoff * 2, BACKOFF_MAX_S)

    def _pump(self, conn: _Connection, file_fps: float | None) -> bool:
        """Read one connection until it ends or `halt`; True when it gave a frame."""
        running = False
        index = undecodable = 0
        started = time.monotonic()
        while not self.halt.is_set() and conn.grab():
            self.stats.frames_read += 1
            if file_fps is not None:  # play the file at its own rate
                position = index * 1000.0 / file_fps
                self.halt.wait(max(0.0, started + position / 1000 - time.monotonic()))
            else:
                position = (time.monotonic() - self.session) * 1000
            index += 1
            if not self.latest.due(position):
                continue
            rgb = conn.retrieve()
            if rgb is None:
                undecodable += 1
                if undecodable >= MAX_UNDECODABLE:  # not a video, or a broken camera
                    break
                continue
            undecodable = 0
            if not running:
                running = True
                self.backoff = BACKOFF_FIRST_S
                self.on_status("RUNNING", "")
                log.info("stream %s: running", self.shown)
            self.latest.put(LiveFrame(int(round(position)), int(time.time() * 1000), rgb), position)
        return running


def open_source(
    url: str,
    *,
    rate: float,
    stop: threading.Event,
    file_dir: Path | None,
    on_status: Callable[[str, str], None],
    stats: SourceStats | None = None,
) -> Iterator[LiveFrame]:
    """Frames of the stream at `url`, at most `rate` a second, newest first (a slow consumer
    gets the newest frame, the ones it missed are counted in `stats.frames_dropped`).

    The iterator ends when `stop` is set, at the end of a file:// source, or when the source
    fails for good (on_status("FAILED", message)); a camera that drops or cannot be reached
    is retried with capped exponential back-off (on_status("RECONNECTING", message), then
    on_status("RUNNING", "") at its next frame). `on_status` is called from the reader
    thread. UnsupportedSource (at once) when check_source_url refuses `url`.
    """
    check_source_url(url, file_dir=file_dir)
    if not rate > 0:
        raise ValueError("rate must be positive")
    stats = stats if stats is not None else SourceStats()
    return _frames(url, rate, stop, file_dir, on_status, stats)


def _frames(
    url: str,
    rate: float,
    stop: threading.Event,
    file_dir: Path | None,
    on_status: Callable[[str, str], None],
    stats: SourceStats,
) -> Iterator[LiveFrame]:
    halt = _Halt(stop)
    latest = _Latest(rate, stats)
    reader = threading.Thread(
        target=_Reader(url, file_dir, latest, halt, on_status, stats).run,
        name=f"oculi-source {redact_url(url)}",
        daemon=True,
    )

    reader.start()
    try:
        while (frame := latest.take(stop)) is not None:
            yield frame
    finally:
        halt.closed.set()
