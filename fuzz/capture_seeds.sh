#!/usr/bin/env bash
# Rebuilds fuzz/seeds/ from real traffic: runs a release `weir serve` on
# spare local ports, puts a small TCP relay in front of its RTMP port that
# records every byte clients send, and has ffmpeg publish and ffprobe /
# rtmpdump / ffmpeg play through it. The recordings are cut into seeds for
# each fuzz target (see seeds/README.md). Needs ffmpeg, ffprobe, rtmpdump,
# curl and python3.
#   bash fuzz/capture_seeds.sh [path/to/weir]
# Default binary: target/release/weir (cargo build --release -p weir-app).
set -euo pipefail
cd "$(dirname "$0")"
here="$PWD"
weir="${1:-../target/release/weir}"
weir="$(realpath "$weir")"
seeds="$PWD/seeds"
work="$(mktemp -d)"
rtmp=$((20000 + RANDOM % 10000)); relay=$((rtmp + 1)); httpp=$((rtmp + 2))
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT

# Cuts the recordings into seeds. Each target's seed starts with the
# control byte its fuzz target reads first (see fuzz_targets/*.rs).
cat > "$work/cut.py" <<'PY'
import glob, hashlib, hmac, os, re, sys
work, seeds = sys.argv[1], sys.argv[2]
def put(target, name, data):
    os.makedirs(f"{seeds}/{target}", exist_ok=True)
    with open(f"{seeds}/{target}/{name}", "wb") as f: f.write(data)
def messages(buf):
    """(type id, payload) of every complete RTMP message in a chunk stream."""
    i, size, st, out = 0, 128, {}, []
    try:
        while i < len(buf):
            fmt, cs = buf[i] >> 6, buf[i] & 63; i += 1
            if cs == 0: cs = 64 + buf[i]; i += 1
            elif cs == 1: cs = 64 + buf[i] + buf[i + 1] * 256; i += 2
            s = st.setdefault(cs, {"len": 0, "type": 0, "buf": b""})
            ts = 0
            if fmt <= 2: ts = int.from_bytes(buf[i:i + 3], "big"); i += 3
            if fmt <= 1: s["len"], s["type"] = int.from_bytes(buf[i:i + 3], "big"), buf[i + 3]; i += 4
            if fmt == 0: i += 4
            if fmt <= 2 and ts == 0xFFFFFF: i += 4
            n = min(size, s["len"] - len(s["buf"]))
            if i + n > len(buf): break
            s["buf"] += buf[i:i + n]; i += n
            if len(s["buf"]) >= s["len"]:
                out.append((s["type"], s["buf"]))
                if s["type"] == 1: size = int.from_bytes(s["buf"][:4], "big") & 0x7FFFFFFF
                s["buf"] = b""
    except IndexError:
        pass
    return out
names = {1: "ffmpeg-publish", 2: "ffprobe-play", 3: "rtmpdump-play", 4: "ffmpeg-play"}
amf = set()
for n, name in names.items():
    path = f"{work}/conn{n}.bin"
    if not os.path.exists(path): continue
    data = open(path, "rb").read()
    c0c1, after = data[:1537], data[1 + 2 * 1536:]
    # rtmp_handshake: 0x2a = replace mode, 611-byte steps; 0x2b = same with a digest client.
    put("rtmp_handshake", f"{name}-c0c1", b"\x2a" + c0c1)
    if n == 3: put("rtmp_handshake", f"{name}-c0c1-digest", b"\x2b" + c0c1)
    body = after[:48 * 1024]  # a publisher's stream: its commands, metadata and first frames
    put("rtmp_chunk", name, b"\x00" + body)
    put("rtmp_server_session", name, b"\x00" + body)
    for t, payload in messages(after):
        if t in (18, 20): amf.add(payload)
        if t == 17 and payload[:1] == b"\x00": amf.add(payload[1:])
for payload in sorted(amf, key=len):
    if len(payload) > 4096: continue
    put("amf0", "cmd-" + hashlib.sha1(payload).hexdigest()[:12], b"\x0f" + payload)
# flv_demux: 0x7f = file already has its header, fed 64 bytes at a time.
clip = open(f"{work}/clip.flv", "rb").read()
put("flv_demux", "ffmpeg-clip", b"\x7f" + clip[:60 * 1024])
put("flv_demux", "ffmpeg-clip-head", b"\x7f" + clip[:4096])
# http_path: request targets as in docs/ and as players ask for them.
segs = [l.strip() for l in open(f"{work}/playlist.m3u8") if l.strip().endswith(".ts")]
def signed(key, secret, expires=4102444800):
    sig = hmac.new(secret.encode(), f"{key}:{expires}".encode(), hashlib.sha256).hexdigest()
    return f"expires={expires}&sign={sig}"
paths = ["/live/test.flv", "/live/test.flv?only=audio", "/live/test.flv?only=video",
         "/live/test.mp4", "/live/test.m3u8", "/live/bench.flv",
         "/live/test.m3u8?key=k1", "/live/test.flv?" + signed("live/test", "0123456789abcdef-secret")]
paths += ["/live/" + s.split("/")[-1].split("?")[0] for s in segs[:2]]
for i, p in enumerate(paths): put("http_path", f"path{i}", p.encode())
# http_head: first request heads as ffmpeg, curl and browsers send them.
heads = [f"GET {p} HTTP/1.1\r\nUser-Agent: Lavf/59.27.100\r\nAccept: */*\r\nRange: bytes=0-\r\nConnection: close\r\nHost: 127.0.0.1:8080\r\nIcy-MetaData: 1\r\n\r\n" for p in paths]
heads += ["HEAD /live/test.flv HTTP/1.1\r\nHost: localhost\r\nUser-Agent: curl/7.88.1\r\nAccept: */*\r\n\r\n",
          "GET /live/test.flv HTTP/1.1\r\nHost: localhost:8080\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
          "GET /live/test.flv HTTP/1.1\r\nHost: localhost:8080\r\nOrigin: http://player.example\r\nAccept: */*\r\nSec-Fetch-Mode: cors\r\n\r\n"]
for i, h in enumerate(heads): put("http_head", f"head{i}", h.encode())
# access_query: control byte (bit 0: play, bits 1..3: peer address), then
# app/stream?query. The secret is the one in fuzz_targets/access_query.rs.
secret = "fuzz-secret-0123456789"
for i, (c, q) in enumerate([
        (0x00, "live/test?" + signed("live/test", secret)),
        (0x06, "live/test?" + signed("live/test", secret, 1000)),
        (0x01, "live/test?key=k1"), (0x0b, "live/test?a=1&key=s3cr%3Dt%26%D0%BA%D0%BB%D1%8E%D1%87"),
        (0x00, "lo/test"), (0x06, "lo/test"), (0x0f, "lo/test?only=audio"),
        (0x01, "open/test"), (0x00, "open/test?key=k1")]):
    put("access_query", f"query{i}", bytes([c]) + q.encode())
# chat_message: client frames from docs/chat.md, 0xFF between frames.
frames = [b'{"type":"join","nick":"alice"}', b'{"type":"chat","text":"hi"}',
          b'{"type":"ping"}', b'{"type":"join","nick":"alice","token":"1732203600.9f2c"}']
for i, f in enumerate(frames): put("chat_message", f"frame{i}", f)
put("chat_message", "session", b"\xff".join(frames[:3] + [b'{"type":"chat","text":"bad word"}']))
PY

# The relay: one recording per accepted connection, client->server bytes only.
cat > "$work/relay.py" <<'PY'
import socket, sys, threading
listen, target, prefix = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
srv = socket.socket(); srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("127.0.0.1", listen)); srv.listen(8)
def pipe(a, b, rec):
    try:
        while True:
            d = a.recv(65536)
            if not d: break
            if rec: rec.write(d); rec.flush()
            b.sendall(d)
    except OSError: pass
    for s in (a, b):
        try: s.shutdown(socket.SHUT_RDWR)
        except OSError: pass
n = 0
while True:
    c, _ = srv.accept(); n += 1
    u = socket.create_connection(("127.0.0.1", target))
    rec = open(f"{prefix}{n}.bin", "wb")
    threading.Thread(target=pipe, args=(c, u, rec), daemon=True).start()
    threading.Thread(target=pipe, args=(u, c, None), daemon=True).start()
PY

cd "$work"
"$weir" serve --rtmp-listen "127.0.0.1:$rtmp" --http-listen "127.0.0.1:$httpp" \
  --data-dir "$work/data" > weir.log 2>&1 &
pids+=($!)
python3 relay.py "$relay" "$rtmp" "$work/conn" &
pids+=($!)
sleep 1
src=(-f lavfi -i testsrc2=size=320x240:rate=15 -f lavfi -i sine)
enc=(-c:v libx264 -g 15 -preset veryfast -c:a aac -f flv)
# 1: the publisher we record (2 s).
ffmpeg -nostdin -loglevel error -re "${src[@]}" -t 2 "${enc[@]}" \
  "rtmp://127.0.0.1:$relay/live/cap"
# A longer publisher, direct, for the players to watch.
ffmpeg -nostdin -loglevel error -re "${src[@]}" -t 20 "${enc[@]}" \
  "rtmp://127.0.0.1:$rtmp/live/test" &
pids+=($!)
sleep 4
# 2: ffprobe, 3: rtmpdump (librtmp's digest handshake), 4: ffmpeg player.
timeout 10 ffprobe -loglevel error -show_streams "rtmp://127.0.0.1:$relay/live/test" > /dev/null || true
timeout 10 rtmpdump -q -v -r "rtmp://127.0.0.1:$relay/live/test" -B 1 -o /dev/null || true
timeout 10 ffmpeg -nostdin -loglevel error -i "rtmp://127.0.0.1:$relay/live/test" -t 1 -f null - || true
curl -s "http://127.0.0.1:$httpp/live/test.m3u8" > playlist.m3u8 || true
sleep 6
curl -s "http://127.0.0.1:$httpp/live/test.m3u8" > playlist.m3u8 || true
# A 1.5 s FLV file for the demuxer.
ffmpeg -nostdin -loglevel error "${src[@]}" -t 1.5 -c:v libx264 -preset veryfast \
  -c:a aac -f flv clip.flv
sleep 0.5

rm -rf "$seeds"/*/
python3 cut.py "$work" "$seeds"
du -sb "$seeds"
