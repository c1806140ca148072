"""Real live-video servers on loopback for tests, fed from a real video: an RTSP server
(GStreamer's, tests/rtsp_server.py), an HTTP MJPEG server (multipart/x-mixed-replace, in a
thread of the test) and an HLS source (ffmpeg's segmenter, served over HTTP). Each can be
stopped mid-stream and started again on the same port, as a camera that drops. And an MQTT
broker (Debian's mosquitto) for events.

When a program they need is missing, `require` skips the test locally and fails it under
CI=true (.ci/run installs the programs).
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
import shutil
import signal
import socket
import subprocess
import threading
import time
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import cv2
import pytest

from tests.conftest import FIXTURES, free_port

CLIP = FIXTURES / "video" / "short_hamilton_clip.mp4"  # 640 x 360, 29.97 fps, H.264
SYSTEM_PYTHON = "/usr/bin/python3"  # python3-gi is Debian's, for its own python


def require(ok: bool, what: str) -> None:
    if not ok:
        if os.environ.get("CI") == "true":
            pytest.fail(f"{what} is missing (.ci/run installs it)")
        pytest.skip(f"{what} is missing")


def have_rtsp_server() -> bool:
    if not Path(SYSTEM_PYTHON).exists():
        return False
    probe = (
        "import gi; gi.require_version('GstRtspServer', '1.0'); gi.require_version('Gst', '1.0')"
    )
    probe += "; from gi.repository import Gst; Gst.init(None)"
    elements = ("qtdemux", "h264parse", "h265parse", "rtph264pay", "rtph265pay")
    probe += f"; assert all(Gst.ElementFactory.find(e) for e in {elements!r})"
    ok = subprocess.run([SYSTEM_PYTHON, "-c", probe], capture_output=True, timeout=60)
    return ok.returncode == 0


class RtspServer:
    """tests/rtsp_server.py on a loopback port: `url(mount)`; `kill()` drops every client at
    once (SIGKILL, as a camera losing power), `start()` brings it back on the same port;
    `freeze()` and `thaw()` hang it and let it go on."""

    def __init__(self, mounts: dict[str, tuple[Path, str]], user: str = "", password: str = ""):
        self.port = free_port()
        self.mounts = mounts
        self.user, self.password = user, password
        self.proc: subprocess.Popen | None = None

    def url(self, mount: str, *, password: str | None = None) -> str:
        cred = (
            f"{self.user}:{self.password if password is None else password}@" if self.user else ""
        )
        return f"rtsp://{cred}127.0.0.1:{self.port}/{mount}"

    def start(self) -> None:
        args = [f"/{m}={path}:{codec}" for m, (path, codec) in self.mounts.items()]
        if self.user:
            args += ["--user", self.user, "--password", self.password]
        script = Path(__file__).parent / "rtsp_server.py"
        for _ in range(50):  # the port may take a moment to be free again after a kill
            self.proc = subprocess.Popen(
                [SYSTEM_PYTHON, str(script), str(self.port), *args],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            line = self.proc.stdout.readline() if self.proc.stdout else ""
            if line.strip() == "READY":
                return
            self.proc.wait(10)
            time.sleep(0.2)
        raise RuntimeError(f"the RTSP server did not start: {self.proc.stderr.read()}")

    def freeze(self) -> None:
        """SIGSTOP: connections stay open and nothing more comes, as a hung camera."""
        if self.proc:
            self.proc.send_signal(signal.SIGSTOP)

    def thaw(self) -> None:
        if self.proc:
            self.proc.send_signal(signal.SIGCONT)

    def kill(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGCONT)
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)


_NONCE = "d41d8cd98f00b204e9800998ecf8427e"


def _md5(text: str) -> str:
    return hashlib.md5(text.encode()).hexdigest()


class _MjpegHandler(SimpleHTTPRequestHandler):
    server: MjpegServer._Http

    def log_message(self, *args: object) -> None:
        pass

    def _authorised(self, owner: MjpegServer) -> bool:
        given = self.headers.get("Authorization", "")
        if not owner.digest:
            want = base64.b64encode(f"{owner.user}:{owner.password}".encode()).decode()
            return given == f"Basic {want}"
        if not given.startswith("Digest "):
            return False
        fields = dict(re.findall(r'(\w+)="?([^",]*)"?', given[len("Digest ") :]))
        ha1 = _md5(f"{owner.user}:camera:{owner.password}")
        ha2 = _md5(f"GET:{fields.get('uri', '')}")
        want = _md5(f"{ha1}:{_NONCE}:{fields.get('nc', '')}:{fields.get('cnonce', '')}:auth:{ha2}")
        return fields.get("username") == owner.user and fields.get("response") == want

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        owner = self.server.owner
        if owner.user and not self._authorised(owner):
            self.send_response(401)
            if owner.digest:
                challenge = f'Digest realm="camera", nonce="{_NONCE}", qop="auth", algorithm=MD5'
            else:
                challenge = 'Basic realm="camera"'
            self.send_header("WWW-Authenticate", challenge)
            self.end_headers()
            return
        self.send_response(200)
        # many cameras declare the boundary with the dashes that only the delimiter has
        declared = "--frame" if owner.dashed else "frame"
        self.send_header("Content-Type", f"multipart/x-mixed-replace; boundary={declared}")
        self.end_headers()
        halted = owner.halted  # this serving's; a restart makes a new one
        start = time.monotonic()
        for i, jpeg in enumerate(owner.jpegs):
            if halted.is_set():
                return
            time.sleep(max(0.0, start + i / owner.fps - time.monotonic()))
            sized = f"Content-Length: {len(jpeg)}\r\n" if owner.sized else ""
            head = f"--frame\r\nContent-Type: image/jpeg\r\n{sized}\r\n".encode()
            try:
                self.wfile.write(head + jpeg + b"\r\n")
            except OSError:
                return


class MjpegServer:
    """An HTTP MJPEG camera on loopback, streaming the clip's frames in real time; `stop()`
    drops its clients, `start()` serves again on the same port."""

    class _Http(ThreadingHTTPServer):
        daemon_threads = True
        allow_reuse_address = True
        owner: MjpegServer

    def __init__(
        self, *, user: str = "", password: str = "", sized: bool = True, digest: bool = False
    ) -> None:
        cap = cv2.VideoCapture(str(CLIP))
        self.fps = cap.get(cv2.CAP_PROP_FPS) or 25.0
        self.jpegs: list[bytes] = []
        while True:
            ok, bgr = cap.read()
            if not ok:
                break
            self.jpegs.append(
                cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, 80])[1].tobytes()
            )
        cap.release()
        self.user, self.password, self.sized, self.digest = user, password, sized, digest
        self.dashed = False
        self.port = free_port()
        self.halted = threading.Event()
        self.http: MjpegServer._Http | None = None

    def url(self, *, password: str | None = None) -> str:
        cred = (
            f"{self.user}:{self.password if password is None else password}@" if self.user else ""
        )
        return f"http://{cred}127.0.0.1:{self.port}/video.mjpg"

    def start(self) -> None:
        self.halted = threading.Event()
        self.http = self._Http(("127.0.0.1", self.port), _MjpegHandler)
        self.http.owner = self
        threading.Thread(target=self.http.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.halted.set()
        if self.http:
            self.http.shutdown()
            self.http.server_close()
            self.http = None


class HlsServer:
    """The clip cut by ffmpeg into an HLS playlist (1 s segments, stream copy) in `folder`,
    served over HTTP on loopback."""

    def __init__(self, folder: Path) -> None:
        subprocess.run(
            [
                "ffmpeg", "-loglevel", "error", "-i", str(CLIP), "-c", "copy", "-an",
                "-f", "hls", "-hls_time", "1", "-hls_playlist_type", "vod",
                str(folder / "clip.m3u8"),
            ],
            check=True,
            timeout=120,
        )  # fmt: skip
        handler = partial(_QuietFiles, directory=str(folder))
        self.http = ThreadingHTTPServer(("127.0.0.1", free_port()), handler)
        self.http.daemon_threads = True
        threading.Thread(target=self.http.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.http.server_address[1]}/clip.m3u8"

    def stop(self) -> None:
        self.http.shutdown()
        self.http.server_close()


class _QuietFiles(SimpleHTTPRequestHandler):
    def log_message(self, *args: object) -> None:
        pass


class Mosquitto:
    """Debian's mosquitto on a loopback port, with a password file and persistence in
    `folder`; `stop()` (SIGTERM, which saves its state) and `start()` again on the same port."""

    def __init__(self, folder: Path, users: dict[str, str] | None = None) -> None:
        self.port = free_port()
        self.folder = folder
        conf = [
            f"listener {self.port} 127.0.0.1",
            "user root",
            "persistence true",
            f"persistence_location {folder}/",
        ]
        if users:
            passwd = folder / "passwd"
            passwd.touch()
            for name, password in users.items():
                subprocess.run(["mosquitto_passwd", "-b", str(passwd), name, password], check=True)
            conf += ["allow_anonymous false", f"password_file {passwd}"]
        else:
            conf += ["allow_anonymous true"]
        (folder / "mosquitto.conf").write_text("\n".join(conf) + "\n")
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [MOSQUITTO, "-c", str(self.folder / "mosquitto.conf")],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"mosquitto exited with {self.proc.returncode}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                time.sleep(0.1)
        raise TimeoutError("mosquitto did not listen")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)


MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"


def have_mosquitto() -> bool:
    return Path(MOSQUITTO).exists() and shutil.which("mosquitto_passwd") is not None


def have_ffmpeg() -> bool:
    return shutil.which("ffmpeg") is not None


def h265_copy(dest: Path) -> Path:
    """The clip's first 3 s re-encoded as H.265 (ffmpeg's libx265) in MP4."""
    out = dest / "clip_h265.mp4"
    subprocess.run(
        [
            "ffmpeg", "-loglevel", "error", "-i", str(CLIP), "-t", "3", "-an",
            "-c:v", "libx265", "-preset", "ultrafast", "-tag:v", "hvc1", str(out),
        ],
        check=True,
        timeout=300,
    )  # fmt: skip
    return out
