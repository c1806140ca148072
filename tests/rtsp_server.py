"""A real RTSP server on loopback for tests: Debian's GStreamer RTSP server (python3-gi,
gir1.2-gst-rtsp-server-1.0; run it with the system /usr/bin/python3) serving MP4 files, each
client from the file's start, in real time, as the camera would.

    /usr/bin/python3 tests/rtsp_server.py PORT /NAME=FILE.mp4:h264 [/NAME=FILE.mp4:h265 ...]
        [--user USER --password PASSWORD]

With --user, every mount asks for HTTP Basic credentials. Prints "READY" once listening.
"""

from __future__ import annotations

import argparse
import sys

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtspServer  # noqa: E402

_PAY = {"h264": "h264parse ! rtph264pay", "h265": "h265parse ! rtph265pay"}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("port", type=int)
    parser.add_argument("mounts", nargs="+", help="/NAME=FILE:CODEC")
    parser.add_argument("--user")
    parser.add_argument("--password")
    args = parser.parse_args()
    Gst.init(None)
    server = GstRtspServer.RTSPServer()
    server.set_address("127.0.0.1")
    server.set_service(str(args.port))
    if args.user:
        auth = GstRtspServer.RTSPAuth()
        token = GstRtspServer.RTSPToken()
        token.set_string("media.factory.role", "viewer")
        auth.add_basic(GstRtspServer.RTSPAuth.make_basic(args.user, args.password or ""), token)
        server.set_auth(auth)
    for mount in args.mounts:
        name, _, rest = mount.partition("=")
        path, _, codec = rest.rpartition(":")
        factory = GstRtspServer.RTSPMediaFactory()
        factory.set_launch(
            f'( filesrc location="{path}" ! qtdemux ! {_PAY[codec]} name=pay0 pt=96 '
            "config-interval=1 )"
        )
        factory.set_shared(False)
        if args.user:
            access = Gst.Structure.from_string(
                "viewer, media.factory.access=(boolean)true, media.factory.construct=(boolean)true"
            )[0]
            factory.add_role_from_structure(access)
        server.get_mount_points().add_factory(name, factory)
    if server.attach(None) == 0:
        sys.exit(f"cannot listen on 127.0.0.1:{args.port}")
    print("READY", flush=True)
    GLib.MainLoop().run()


if __name__ == "__main__":
    main()
