#!/usr/bin/env python3
"""Cuts seeds for the rtsp_message, sdp and rtp_depacketize fuzz targets
from the ffmpeg RTSP captures in crates/rtsp/testdata (see its README).

    python3 fuzz/rtsp_seeds.py   # replaces seeds/{rtsp_message,sdp,rtp_depacketize}
"""
import glob
import os
import re
import shutil
import struct

HERE = os.path.dirname(os.path.abspath(__file__))
CAPTURES = sorted(glob.glob(os.path.join(HERE, "..", "crates", "rtsp", "testdata", "ffmpeg_*.rtsp")))

# Codec numbers of the rtp_depacketize control byte.
CODEC = {"H264": 0, "H265": 1, "MPEG4-GENERIC": 2, "MP4A-LATM": 3, "OPUS": 4, "PCMA": 5}


def reset(target):
    d = os.path.join(HERE, "seeds", target)
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    return d


msg_dir, sdp_dir, rtp_dir = reset("rtsp_message"), reset("sdp"), reset("rtp_depacketize")
for path in CAPTURES:
    name = os.path.basename(path)[:-5]
    data = open(path, "rb").read()
    first_frame = data.index(b"$")
    # Control byte 0x7f: default limits, 128-byte reads; 0x80: small limits.
    open(os.path.join(msg_dir, name + "-session"), "wb").write(b"\x7f" + data[: first_frame + 4000])
    open(os.path.join(msg_dir, name + "-small"), "wb").write(b"\x80" + data[:first_frame])
    body = data[data.index(b"v=0"):]
    length = int(re.search(rb"Content-Length: (\d+)", data).group(1))
    sdp = body[:length]
    open(os.path.join(sdp_dir, name), "wb").write(sdp)
    # Track order and codec from the SDP; channel 2n carries track n.
    codecs = []
    for m in re.finditer(rb"m=\w+ \d+ RTP/AVP (\d+)", sdp):
        pt = m.group(1)
        rtpmap = re.search(rb"a=rtpmap:" + pt + rb" ([\w-]+)/", sdp)
        enc = rtpmap.group(1).decode().upper() if rtpmap else {b"8": "PCMA", b"0": "PCMA"}[pt]
        codecs.append(CODEC[enc])
    packets = {}
    i = first_frame
    while i + 4 <= len(data) and data[i] == 0x24:
        channel, size = data[i + 1], struct.unpack(">H", data[i + 2 : i + 4])[0]
        if channel % 2 == 0:
            packets.setdefault(channel // 2, []).append(data[i + 4 : i + 4 + size])
        i += 4 + size
    for track, pkts in packets.items():
        for reorder in (0, 8):
            seed = bytes([codecs[track] | reorder])
            for p in pkts[:40]:
                seed += struct.pack(">H", len(p)) + p
                if len(seed) > 12000:
                    break
            open(os.path.join(rtp_dir, f"{name}-track{track}-{reorder}"), "wb").write(seed)

# Odd camera SDPs, written by hand in the shapes cameras send.
open(os.path.join(sdp_dir, "camera-odd"), "wb").write(
    b"v=0\ns = cam\nm=video 0 RTP/AVP 96\na=rtpmap:96 h264/90000\n"
    b"a=fmtp:96 packetization-mode=1;sprop-parameter-sets=Z0IAH5WoFAFuQA,aM48gA\n"
    b"a=control: rtsp://192.0.2.2/ch1/trackID=1\nm=audio 0 RTP/AVP 97\n"
    b"a=rtpmap:97 MP4A-LATM/16000/1\na=fmtp:97 profile-level-id=15;object=2;cpresent=0;config=400024203fc0\n"
    b"a=control:trackID=2\n"
)
for d in (msg_dir, sdp_dir, rtp_dir):
    print(os.path.basename(d), len(os.listdir(d)), "seeds,", sum(os.path.getsize(os.path.join(d, f)) for f in os.listdir(d)), "bytes")
