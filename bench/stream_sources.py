"""What reading live cameras costs before any analysis: CPU time of oculi's stream sources
(oculi/streams/sources.py) reading 1280x720 H.264 RTSP streams at 30 fps and handing out
`--rate` frames a second, for 1 and `--streams` cameras at once.

The cameras are Debian's GStreamer RTSP server on loopback (tests/rtsp_server.py, needs
python3-gi and gir1.2-gst-rtsp-server-1.0; it sends the file without re-encoding, in a
process of its own that is not counted), serving the repository's clip played 3 times over
(27 s) and upscaled to 720p by ffmpeg (libx264, 2 s GOP, as a camera sends). CPU is this
process's user + system time (every reader thread and FFmpeg's decoding threads) over a
window of `--seconds` after one second of warm-up; medians over `--repeats` runs. Prints CPU
as cores used (1.0 = one core busy), per stream, and frames read, handed out and dropped
per stream and second.

    python -m bench.stream_sources [--streams 4] [--rate 5] [--seconds 5] [--repeats 3]
"""

from __future__ import annotations

import argparse
import resource
import statistics
import subprocess
import tempfile
import threading
import time
from pathlib import Path

from oculi.streams import SourceStats, open_source
from tests.stream_servers import CLIP, RtspServer


def _cpu_s() -> float:
    use = resource.getrusage(resource.RUSAGE_SELF)
    return use.ru_utime + use.ru_stime


def clip_720p(folder: Path) -> Path:
    out = folder / "clip720.mp4"
    subprocess.run(
        [
            "ffmpeg", "-loglevel", "error", "-stream_loop", "2", "-i", str(CLIP), "-an",
            "-vf", "scale=1280:720",
            "-r", "30", "-c:v", "libx264", "-preset", "veryfast", "-g", "60", "-bf", "0",
            str(out),
        ],
        check=True,
    )  # fmt: skip
    return out


def run(server: RtspServer, streams: int, rate: float, seconds: float) -> dict[str, float]:
    stop = threading.Event()
    stats = [SourceStats() for _ in range(streams)]

    def consume(s: SourceStats) -> None:
        for _ in open_source(
            server.url("cam"),
            rate=rate,
            stop=stop,
            file_dir=None,
            on_status=lambda *a: None,
            stats=s,
        ):
            pass

    threads = [threading.Thread(target=consume, args=(s,), daemon=True) for s in stats]
    for t in threads:
        t.start()
    while any(s.frames_delivered == 0 for s in stats):  # every camera connected
        time.sleep(0.05)
    time.sleep(1.0)
    read0 = [(s.frames_read, s.frames_delivered, s.frames_dropped) for s in stats]
    cpu0, wall0 = _cpu_s(), time.monotonic()
    time.sleep(seconds)
    cpu, wall = _cpu_s() - cpu0, time.monotonic() - wall0
    read1 = [(s.frames_read, s.frames_delivered, s.frames_dropped) for s in stats]
    stop.set()
    for t in threads:
        t.join(30)
    if any(s.reconnects for s in stats):
        raise RuntimeError("a stream dropped during the measurement")
    per = [sum(b[i] - a[i] for a, b in zip(read0, read1)) / streams / wall for i in range(3)]
    return {"cores": cpu / wall, "read": per[0], "delivered": per[1], "dropped": per[2]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--streams", type=int, default=4)
    parser.add_argument("--rate", type=float, default=5.0)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        server = RtspServer({"cam": (clip_720p(Path(tmp)), "h264")})
        server.start()
        try:
            print(f"1280x720 H.264 30 fps over RTSP (loopback), {args.rate:g} frames/s handed out")
            print("streams  cores used  per stream  read/s  handed out/s  dropped/s  (medians)")
            for n in sorted({1, args.streams}):
                runs = [run(server, n, args.rate, args.seconds) for _ in range(args.repeats)]
                med = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
                print(
                    f"{n:7d}  {med['cores']:10.3f}  {med['cores'] / n:10.3f}  {med['read']:6.1f}"
                    f"  {med['delivered']:12.2f}  {med['dropped']:9.2f}"
                )
        finally:
            server.kill()


if __name__ == "__main__":
    main()
