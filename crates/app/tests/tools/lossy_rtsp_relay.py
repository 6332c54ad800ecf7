#!/usr/bin/env python3
"""A lossy network between an RTSP publisher using UDP and a server.

Listens for RTSP on a TCP port and forwards each connection to the
server. In every SETUP it swaps the client's `client_port` pair for a pair
of its own facing the server, and in the answer the server's `server_port`
pair for a pair of its own facing the client, then relays the datagrams
between them, dropping RTP (either way: a publisher's to the server, the
server's to a player) with the given probability (seeded, so a run is
repeatable). RTCP is relayed untouched.

Prints "LISTEN <port>" once ready, and on exit (SIGINT or SIGTERM) the counts as
"RELAYED <n> DROPPED <n>".

Usage: lossy_rtsp_relay.py SERVER_HOST SERVER_PORT LOSS SEED
"""

import random
import re
import signal
import socket
import sys
import threading

server_host, server_port = sys.argv[1], int(sys.argv[2])
loss, rng = float(sys.argv[3]), random.Random(int(sys.argv[4]))
counts = {"relayed": 0, "dropped": 0}
lock = threading.Lock()


def udp_pair():
    """Two sockets on adjacent ports, RTP on the even one: clients send
    RTCP to the RTP port + 1 whatever the Transport header says."""
    while True:
        probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1] & ~1
        probe.close()
        pair = []
        try:
            for p in (port, port + 1):
                s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                pair.append(s)
                s.bind(("127.0.0.1", p))
            return tuple(pair)
        except OSError:
            for s in pair:
                s.close()


def pump(src, dst_sock, dst_addr, lossy):
    """Datagrams arriving at `src` go out of `dst_sock` to `dst_addr`
    (a one-element list filled in once known)."""
    while True:
        try:
            data, _ = src.recvfrom(65536)
        except OSError:
            return
        if lossy:
            with lock:
                if rng.random() < loss:
                    counts["dropped"] += 1
                    continue
                counts["relayed"] += 1
        if dst_addr[0] is not None:
            try:
                dst_sock.sendto(data, dst_addr[0])
            except OSError:
                pass


def read_message(f):
    """One RTSP message (head and body) from a file object, or None."""
    head = b""
    while not head.endswith(b"\r\n\r\n"):
        line = f.readline()
        if not line:
            return None
        head += line
    m = re.search(rb"(?im)^content-length:\s*(\d+)", head)
    body = f.read(int(m.group(1))) if m else b""
    return head + body


def handle(client):
    try:
        relay_rtsp(client)
    except OSError:
        pass  # the client or the server closed: so does the relay


def relay_rtsp(client):
    upstream = socket.create_connection((server_host, server_port))
    cf, uf = client.makefile("rb"), upstream.makefile("rb")
    while True:
        request = read_message(cf)
        if request is None:
            break
        pair = None
        m = re.search(rb"client_port=(\d+)-(\d+)", request)
        if request.startswith(b"SETUP") and m:
            client_rtp = ("127.0.0.1", int(m.group(1)))
            client_rtcp = ("127.0.0.1", int(m.group(2)))
            to_server = udp_pair()  # faces the server
            ports = b"client_port=%d-%d" % (
                to_server[0].getsockname()[1],
                to_server[1].getsockname()[1],
            )
            request = request[: m.start()] + ports + request[m.end() :]
            pair = (client_rtp, client_rtcp, to_server)
        upstream.sendall(request)
        answer = read_message(uf)
        if answer is None:
            break
        m = re.search(rb"server_port=(\d+)-(\d+)", answer)
        if pair and m:
            client_rtp, client_rtcp, to_server = pair
            server_rtp = [("127.0.0.1", int(m.group(1)))]
            server_rtcp = [("127.0.0.1", int(m.group(2)))]
            to_client = udp_pair()  # faces the client
            ports = b"server_port=%d-%d" % (
                to_client[0].getsockname()[1],
                to_client[1].getsockname()[1],
            )
            answer = answer[: m.start()] + ports + answer[m.end() :]
            for args in [
                (to_client[0], to_server[0], server_rtp, True),
                (to_client[1], to_server[1], server_rtcp, False),
                (to_server[0], to_client[0], [client_rtp], True),
                (to_server[1], to_client[1], [client_rtcp], False),
            ]:
                threading.Thread(target=pump, args=args, daemon=True).start()
        client.sendall(answer)
    client.close()
    upstream.close()


def report(*_):
    with lock:
        print("RELAYED %d DROPPED %d" % (counts["relayed"], counts["dropped"]), flush=True)
    sys.exit(0)


signal.signal(signal.SIGTERM, report)
signal.signal(signal.SIGINT, report)
listener = socket.socket()
listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
listener.bind(("127.0.0.1", 0))
listener.listen()
print("LISTEN %d" % listener.getsockname()[1], flush=True)
while True:
    conn, _ = listener.accept()
    threading.Thread(target=handle, args=(conn,), daemon=True).start()
