"""Chat across the nodes of a cluster, for crates/app/tests/cluster_e2e.rs.

    python3 cluster.py SCENARIO BASE_A BASE_B BASE_C TOKEN

Members connect to different nodes with the `websockets` package (not weir
code); the scenario prints one JSON object with what they saw and exits 0;
the Rust test asserts on it. Every wait is bounded.

Scenarios:
  talk     alice on A and bob on C talk; order of 20 messages; a late
           joiner on B gets the history; counts are cluster-wide; the
           endpoint API points a new member at the emptiest node;
           moderation from B: mute alice (on A), delete a message, kick bob
           (on C).
  recover  after a Redis outage: erin on A and frank on C talk again.
"""

import asyncio
import json
import sys
import urllib.error
import urllib.request

import websockets

WAIT = 10.0
ROOM = ("live", "cam")


def ws_url(base):
    return base.replace("http://", "ws://") + f"/chat/{ROOM[0]}/{ROOM[1]}"


def get(url):
    with urllib.request.urlopen(url, timeout=WAIT) as r:
        return r.status, json.load(r)


def post(url, token, body, method="POST"):
    req = urllib.request.Request(
        url,
        data=None if body is None else json.dumps(body).encode(),
        method=method,
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(req, timeout=WAIT) as r:
            return r.status, json.load(r)
    except urllib.error.HTTPError as e:
        return e.code, json.load(e)


async def next_of(ws, kinds, pred=lambda ev: True):
    kinds = {kinds} if isinstance(kinds, str) else set(kinds)
    while True:
        ev = json.loads(await asyncio.wait_for(ws.recv(), WAIT))
        if ev["type"] in kinds and pred(ev):
            return ev


async def member(base, nick):
    ws = await websockets.connect(ws_url(base), open_timeout=WAIT)
    await next_of(ws, "welcome")
    history = await next_of(ws, "history")
    await ws.send(json.dumps({"type": "join", "nick": nick}))
    welcome = await next_of(ws, "welcome")
    return ws, welcome, history


async def say(ws, text):
    await ws.send(json.dumps({"type": "chat", "text": text}))


async def heard(ws, text):
    return await next_of(ws, "chat", lambda ev: ev["text"] == text)


async def wait_members(ws, n):
    """The next `members` event with count n (counts go round the cluster
    with the heartbeats)."""
    ev = await asyncio.wait_for(
        next_of(ws, "members", lambda ev: ev["count"] == n), WAIT * 2
    )
    return ev["count"]


async def talk(a, b, c, token):
    out = {}
    alice, _, _ = await member(a, "alice")
    bob, _, _ = await member(c, "bob")
    await say(alice, "hello from A")
    hello = await heard(bob, "hello from A")
    out["bob_heard"] = hello["text"]
    await say(bob, "hi from C")
    out["alice_heard"] = (await heard(alice, "hi from C"))["text"]
    for i in range(20):
        await say(alice, f"m{i}")
    got = []
    while len(got) < 20:
        ev = await next_of(bob, "chat")
        if ev["text"].startswith("m"):
            got.append(ev["text"])
    out["order"] = got
    out["alice_sees_members"] = await wait_members(alice, 2)
    _, room = get(f"{b}/api/v1/chat/{ROOM[0]}/{ROOM[1]}")
    out["room_on_b"] = {k: room.get(k) for k in ("local_members", "remote_members", "cluster_members", "relay")}
    _, ep = get(f"{a}/api/v1/chat/endpoint?app={ROOM[0]}&stream={ROOM[1]}")
    out["endpoint"] = ep
    # A late joiner on B, where the endpoint sent it: the history has
    # alice's and bob's messages.
    carol, welcome, history = await member(b, "carol")
    out["carol_history"] = [m["text"] for m in history["messages"]]
    out["carol_welcome_members"] = welcome["members"]
    # Moderation from B.
    out["mute"] = post(f"{b}/api/v1/chat/{ROOM[0]}/{ROOM[1]}/mute", token, {"user": "alice", "minutes": 5})
    await asyncio.sleep(1.0)
    await say(alice, "am I muted?")
    err = await next_of(alice, "error")
    out["alice_error"] = err.get("code")
    out["delete"] = post(
        f"{b}/api/v1/chat/{ROOM[0]}/{ROOM[1]}/messages/{hello['id']}", token, None, method="DELETE"
    )
    deleted = await next_of(bob, "delete")
    out["bob_saw_delete"] = deleted["id"] == hello["id"]
    out["kick"] = post(f"{b}/api/v1/chat/{ROOM[0]}/{ROOM[1]}/kick", token, {"user": "bob"})
    try:
        while True:
            await asyncio.wait_for(bob.recv(), WAIT)
    except websockets.ConnectionClosed as e:
        out["bob_closed"] = e.rcvd.code if e.rcvd else None
    for ws in (alice, carol):
        await ws.close()
    return out


async def recover(a, b, c, token):
    out = {}
    erin, _, _ = await member(a, "erin")
    frank, _, _ = await member(c, "frank")
    # Right after an outage the other node may still be subscribing:
    # say it until it is heard (bounded).
    for i in range(20):
        await say(erin, f"back {i}")
        try:
            ev = await asyncio.wait_for(next_of(frank, "chat", lambda ev: ev["text"].startswith("back")), 1.0)
            out["frank_heard"] = ev["text"]
            out["attempts"] = i + 1
            break
        except asyncio.TimeoutError:
            continue
    await erin.close()
    await frank.close()
    return out


def main():
    scenario, a, b, c, token = sys.argv[1:6]
    run = {"talk": talk, "recover": recover}[scenario]
    print(json.dumps(asyncio.run(run(a, b, c, token))))


if __name__ == "__main__":
    main()
