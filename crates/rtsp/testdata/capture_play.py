#!/usr/bin/env python3
"""Records the requests ffprobe and GStreamer's rtspsrc send when they play
over RTSP, optionally after a Digest challenge.

A fake server answers DESCRIBE with a fixed H.264 + AAC SDP, SETUP by echoing
the transport (with server ports for UDP), PLAY with 200, and closes the
connection a moment after PLAY. With a challenge, the first DESCRIBE gets
`401` with `WWW-Authenticate: Digest realm="weir", nonce="6e6f6e6365"` (and
Basic), so the retry carries the client's Authorization for password "KEY".

    python3 capture_play.py     # rewrites the play_*.rtsp files next to it
"""
import os
import re
import socket
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SDP = (b"v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=weir\r\nc=IN IP4 0.0.0.0\r\nt=0 0\r\na=control:*\r\n"
       b"m=video 0 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\n"
       b"a=fmtp:96 packetization-mode=1;profile-level-id=42c01e;sprop-parameter-sets=Z0LAHtkDxWhAAAADAEAAAAwDxYuS,aMuMsg==\r\n"
       b"a=control:trackID=0\r\n"
       b"m=audio 0 RTP/AVP 97\r\na=rtpmap:97 MPEG4-GENERIC/44100/1\r\n"
       b"a=fmtp:97 profile-level-id=1;mode=AAC-hbr;sizelength=13;indexlength=3;indexdeltalength=3;config=1208\r\n"
       b"a=control:trackID=1\r\n")
CHALLENGE = (b'WWW-Authenticate: Digest realm="weir", nonce="6e6f6e6365", algorithm=MD5\r\n'
             b'WWW-Authenticate: Basic realm="weir"\r\n')


def serve(sock, out, challenge):
    conn, _ = sock.accept()
    conn.settimeout(10)
    data = b""
    answered = 0
    challenged = False
    played_at = None
    while True:
        if played_at is not None:
            conn.settimeout(max(0.01, played_at + 0.5 - time.time()))
        try:
            chunk = conn.recv(65536)
        except socket.timeout:
            break
        if not chunk:
            break
        data += chunk
        while True:
            heads = list(re.finditer(rb"(?m)^([A-Z_]+) (\S+) RTSP/1.0\r\n(.*?)\r\n\r\n", data, re.S))
            if len(heads) <= answered:
                break
            m = heads[answered]
            answered += 1
            method, head = m.group(1), m.group(3)
            cseq = re.search(rb"(?i)CSeq: *(\d+)", head).group(1)
            status, extra, body = b"200 OK", b"", b""
            if method == b"OPTIONS":
                extra = b"Public: OPTIONS, DESCRIBE, SETUP, PLAY, PAUSE, TEARDOWN, GET_PARAMETER\r\n"
            elif challenge and not challenged and method in (b"DESCRIBE", b"ANNOUNCE"):
                challenged = True
                status, extra = b"401 Unauthorized", CHALLENGE
            elif method == b"DESCRIBE":
                if True:  # noqa
                    body = SDP
                    extra = (b"Content-Type: application/sdp\r\nContent-Base: rtsp://127.0.0.1/live/test/\r\n"
                             b"Content-Length: " + str(len(SDP)).encode() + b"\r\n")
            elif method == b"SETUP":
                t = re.search(rb"(?i)Transport: *([^\r,]*)", head).group(1)
                if b"client_port" in t:
                    t += b";server_port=8000-8001"
                extra = b"Transport: " + t + b"\r\nSession: 12345678;timeout=60\r\n"
            elif method in (b"PLAY", b"RECORD"):
                extra = b"Session: 12345678\r\nRange: npt=0.000-\r\n"
                played_at = time.time()
            conn.sendall(b"RTSP/1.0 " + status + b"\r\nCSeq: " + cseq + b"\r\n" + extra + b"\r\n" + body)
    conn.close()
    with open(os.path.join(HERE, out), "wb") as f:
        f.write(data)
    print(out, len(data), "bytes")


def run(name, challenge, cmd):
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(1)
    port = sock.getsockname()[1]
    t = threading.Thread(target=serve, args=(sock, name, challenge))
    t.start()
    argv = [a.replace("PORT", str(port)) for a in cmd]
    subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=20)
    t.join()
    sock.close()


FFPROBE = ["ffprobe", "-hide_banner", "-loglevel", "error", "-rw_timeout", "3000000"]
GST = ["timeout", "5", "gst-launch-1.0", "-q", "rtspsrc"]
run("play_ffprobe_tcp.rtsp", False, FFPROBE + ["-rtsp_transport", "tcp", "rtsp://127.0.0.1:PORT/live/test"])
run("play_ffprobe_udp.rtsp", False, FFPROBE + ["-rtsp_transport", "udp", "rtsp://127.0.0.1:PORT/live/test"])
run("play_ffprobe_digest.rtsp", True, FFPROBE + ["-rtsp_transport", "tcp", "rtsp://user:KEY@127.0.0.1:PORT/live/test"])
run("play_ffprobe_multicast.rtsp", False, FFPROBE + ["-rtsp_transport", "udp_multicast", "rtsp://127.0.0.1:PORT/live/test"])
run("publish_ffmpeg_digest.rtsp", True, ["ffmpeg", "-hide_banner", "-loglevel", "error", "-re", "-f", "lavfi", "-i", "testsrc2=size=160x120:rate=10",
    "-t", "1", "-pix_fmt", "yuv420p", "-c:v", "libx264", "-g", "10", "-f", "rtsp", "-rtsp_transport", "tcp", "rtsp://user:KEY@127.0.0.1:PORT/live/test"])
run("play_gst_tcp.rtsp", False, GST + ["location=rtsp://127.0.0.1:PORT/live/test", "protocols=tcp", "!", "fakesink"])
run("play_gst_digest.rtsp", True, GST + ["location=rtsp://127.0.0.1:PORT/live/test", "protocols=tcp", "user-id=user", "user-pw=KEY", "!", "fakesink"])
