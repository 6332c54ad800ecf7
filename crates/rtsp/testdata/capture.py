#!/usr/bin/env python3
"""Records what ffmpeg sends when it publishes over RTSP (TCP interleaved).

A tiny fake RTSP server on 127.0.0.1 answers OPTIONS/ANNOUNCE/SETUP/RECORD
with 200 and records every byte the client sends until it disconnects.
The recordings are the fixtures of tests/capture.rs and the seeds of the
rtsp_message fuzz target.

    python3 capture.py        # rewrites the *.rtsp files next to this script

Each fixture is `ffmpeg -re -f lavfi ... -t 1 -f rtsp -rtsp_transport tcp`
with the codecs named in its file name (ffmpeg 5.1 from Debian).
"""
import os
import re
import socket
import subprocess
import threading

HERE = os.path.dirname(os.path.abspath(__file__))

CASES = {
    "ffmpeg_h264_aac.rtsp": ["-c:v", "libx264", "-profile:v", "baseline", "-g", "10", "-c:a", "aac", "-b:a", "32k"],
    "ffmpeg_h265_pcma.rtsp": ["-c:v", "libx265", "-x265-params", "keyint=10:log-level=error", "-c:a", "pcm_alaw", "-ar", "8000", "-ac", "1"],
    "ffmpeg_h264_opus.rtsp": ["-c:v", "libx264", "-g", "10", "-c:a", "libopus", "-ar", "48000", "-b:a", "24k"],
}


def serve(sock, out):
    conn, _ = sock.accept()
    conn.settimeout(10)
    data = b""
    answered = 0
    session = 0
    while True:
        try:
            chunk = conn.recv(65536)
        except socket.timeout:
            break
        if not chunk:
            break
        data += chunk
        # Answer each complete request head (bodies are short and arrive with it).
        while True:
            heads = [m for m in re.finditer(rb"(?m)^([A-Z_]+) (\S+) RTSP/1.0\r\n(.*?)\r\n\r\n", data, re.S)]
            if len(heads) <= answered:
                break
            m = heads[answered]
            answered += 1
            method = m.group(1)
            cseq = re.search(rb"CSeq: *(\d+)", m.group(3)).group(1)
            extra = b""
            if method == b"OPTIONS":
                extra = b"Public: OPTIONS, ANNOUNCE, SETUP, RECORD, TEARDOWN\r\n"
            if method == b"SETUP":
                session += 1
                t = re.search(rb"Transport: *([^\r]*)", m.group(3)).group(1)
                extra = b"Transport: " + t + b"\r\nSession: 12345678;timeout=60\r\n"
            if method == b"RECORD":
                extra = b"Session: 12345678\r\n"
            conn.sendall(b"RTSP/1.0 200 OK\r\nCSeq: " + cseq + b"\r\n" + extra + b"\r\n")
    conn.close()
    with open(os.path.join(HERE, out), "wb") as f:
        f.write(data)
    print(out, len(data), "bytes")


for name, codec_args in CASES.items():
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(1)
    port = sock.getsockname()[1]
    t = threading.Thread(target=serve, args=(sock, name))
    t.start()
    subprocess.run(
        ["ffmpeg", "-hide_banner", "-loglevel", "error", "-re",
         "-f", "lavfi", "-i", "testsrc2=size=160x120:rate=10",
         "-f", "lavfi", "-i", "sine=frequency=440",
         "-t", "1", "-pix_fmt", "yuv420p", *codec_args,
         "-f", "rtsp", "-rtsp_transport", "tcp", f"rtsp://127.0.0.1:{port}/live/test"],
        check=True,
    )
    t.join()
    sock.close()
