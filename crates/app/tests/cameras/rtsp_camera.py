#!/usr/bin/python3
"""A simulated IP camera for pull_e2e.rs: gst-rtsp-server serving a live
test pattern and tone at rtsp://127.0.0.1:PORT/cam.

Run with Debian's /usr/bin/python3 (python3-gi, gir1.2-gst-rtsp-server-1.0):

    /usr/bin/python3 rtsp_camera.py PORT h264-aac|h265-pcma|h265-pcmu [USER PASSWORD]

With USER and PASSWORD the camera asks for Basic auth, or Digest only
with CAMERA_AUTH=digest. With CAMERA_LOSS=0.05 it drops that share of its video RTP packets
before they leave (over TCP as over UDP), like a lossy network. With
CAMERA_TCP_ONLY=1 in the environment it refuses RTP over UDP (461),
like a camera behind a firewall.

Prints "ready" once it listens, and "client" / "client-closed" each time
an RTSP client connects / goes away (the test counts them).
"""

import os
import random
import sys

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtspServer", "1.0")
gi.require_version("GstRtsp", "1.0")
from gi.repository import GLib, Gst, GstRtsp, GstRtspServer  # noqa: E402

VIDEO = "videotestsrc is-live=true ! video/x-raw,width=320,height=240,framerate=30/1 ! "
PIPELINES = {
    "h264-aac": VIDEO
    + "x264enc tune=zerolatency speed-preset=ultrafast key-int-max=30 ! "
    "rtph264pay name=pay0 pt=96 config-interval=-1 "
    "audiotestsrc is-live=true wave=sine ! audio/x-raw,rate=44100,channels=2 ! "
    "avenc_aac ! rtpmp4gpay name=pay1 pt=97",
    "h265-pcma": VIDEO
    + "x265enc tune=zerolatency speed-preset=ultrafast key-int-max=30 ! "
    "rtph265pay name=pay0 pt=96 config-interval=-1 "
    "audiotestsrc is-live=true wave=sine ! audio/x-raw,rate=8000,channels=1 ! "
    "alawenc ! rtppcmapay name=pay1 pt=8",
    "h265-pcmu": VIDEO
    + "x265enc tune=zerolatency speed-preset=ultrafast key-int-max=30 ! "
    "rtph265pay name=pay0 pt=96 config-interval=-1 "
    "audiotestsrc is-live=true wave=sine ! audio/x-raw,rate=8000,channels=1 ! "
    "mulawenc ! rtppcmupay name=pay1 pt=0",
}


def main():
    port, kind = sys.argv[1], sys.argv[2]
    Gst.init(None)
    server = GstRtspServer.RTSPServer()
    server.set_address("127.0.0.1")
    server.set_service(port)
    factory = GstRtspServer.RTSPMediaFactory()
    factory.set_launch("( " + PIPELINES[kind] + " )")
    factory.set_shared(True)
    if os.environ.get("CAMERA_TCP_ONLY") == "1":
        factory.set_protocols(GstRtsp.RTSPLowerTrans.TCP)
    if len(sys.argv) >= 5:
        auth = GstRtspServer.RTSPAuth()
        token = GstRtspServer.RTSPToken()
        token.set_string(GstRtspServer.RTSP_TOKEN_MEDIA_FACTORY_ROLE, "viewer")
        if os.environ.get("CAMERA_AUTH") == "digest":
            auth.set_supported_methods(GstRtsp.RTSPAuthMethod.DIGEST)
            auth.add_digest(sys.argv[3], sys.argv[4], token)
        else:
            auth.add_basic(GstRtspServer.RTSPAuth.make_basic(sys.argv[3], sys.argv[4]), token)
        server.set_auth(auth)
        permissions = GstRtspServer.RTSPPermissions()
        permissions.add_role("viewer")
        permissions.add_permission_for_role("viewer", "media.factory.access", True)
        permissions.add_permission_for_role("viewer", "media.factory.construct", True)
        factory.set_permissions(permissions)
    loss = float(os.environ.get("CAMERA_LOSS", "0"))
    if loss > 0:

        def drop(_pad, _info):
            if random.random() < loss:
                return Gst.PadProbeReturn.DROP
            return Gst.PadProbeReturn.OK

        def on_configure(_factory, media):
            pay = media.get_element().get_by_name("pay0")
            pay.get_static_pad("src").add_probe(
                Gst.PadProbeType.BUFFER | Gst.PadProbeType.BUFFER_LIST, drop
            )

        factory.connect("media-configure", on_configure)
    server.get_mount_points().add_factory("/cam", factory)

    def on_client(_server, client):
        print("client", flush=True)
        client.connect("closed", lambda _c: print("client-closed", flush=True))

    server.connect("client-connected", on_client)
    if server.attach(None) == 0:
        print("cannot listen on port " + port, flush=True)
        sys.exit(1)
    print("ready", flush=True)
    GLib.MainLoop().run()


if __name__ == "__main__":
    main()
