"""Independent chat client for crates/app/tests/chat_e2e.rs.

    python3 client.py SCENARIO HTTP_BASE [ARG]

Each scenario talks to a running `weir serve` with the `websockets` package
(not weir code), prints one JSON object with what it saw on stdout, and
exits 0; the Rust test asserts on that JSON. Every wait is bounded.
"""

import asyncio
import json
import sys
import time
import urllib.request

import websockets

WAIT = 10.0


def endpoint(base, app="live", stream="chat"):
    url = f"{base}/api/v1/chat/endpoint?app={app}&stream={stream}"
    with urllib.request.urlopen(url, timeout=WAIT) as r:
        return json.load(r)


async def connect(base, **kw):
    url = endpoint(base)["url"]
    ws = await websockets.connect(url, open_timeout=WAIT, **kw)
    return ws


async def next_of(ws, kinds):
    """The next event whose type is in `kinds`, skipping others."""
    kinds = {kinds} if isinstance(kinds, str) else set(kinds)
    while True:
        ev = json.loads(await asyncio.wait_for(ws.recv(), WAIT))
        if ev["type"] in kinds:
            return ev


async def chat_with(ws, text):
    """The next chat event carrying `text` (others in the room talk too)."""
    while True:
        ev = await next_of(ws, "chat")
        if ev["text"] == text:
            return ev


async def greeted(base, **kw):
    ws = await connect(base, **kw)
    welcome = await next_of(ws, "welcome")
    history = await next_of(ws, "history")
    return ws, welcome, history


async def say(ws, text):
    await ws.send(json.dumps({"type": "chat", "text": text}))


async def fanout(base):
    clients = [await greeted(base) for _ in range(3)]
    names = [w["user"] for _, w, _ in clients]

    async def talk(i, ws):
        for j in range(5):
            await say(ws, f"c{i}-m{j}")

    async def collect(ws):
        got = []
        while len(got) < 15:
            ev = await next_of(ws, "chat")
            got.append({k: ev[k] for k in ("id", "user", "text", "ts")})
        return got

    collectors = [asyncio.create_task(collect(ws)) for ws, _, _ in clients]
    await asyncio.gather(*(talk(i, ws) for i, (ws, _, _) in enumerate(clients)))
    seen = await asyncio.gather(*collectors)
    for ws, _, _ in clients:
        await ws.close()
    return {"names": names, "seen": seen}


async def history(base):
    a, _, _ = await greeted(base)
    for i in range(3):
        await say(a, f"before-{i}")
        await next_of(a, "chat")
    b, welcome, hist = await greeted(base)
    await a.close()
    await b.close()
    return {"members": welcome["members"], "history": hist["messages"]}


async def silent(base):
    quiet, _, _ = await greeted(base, ping_interval=None)
    app_pinger, _, _ = await greeted(base, ping_interval=None)
    ws_pinger, _, _ = await greeted(base, ping_interval=None)
    start = time.monotonic()
    closed = {}

    async def wait_close():
        try:
            while True:
                await asyncio.wait_for(quiet.recv(), WAIT)
        except websockets.ConnectionClosed as e:
            closed["code"] = e.rcvd.code if e.rcvd else None
            closed["reason"] = e.rcvd.reason if e.rcvd else None
            closed["after"] = time.monotonic() - start

    async def app_pings():
        pongs = 0
        for _ in range(10):
            await app_pinger.send(json.dumps({"type": "ping"}))
            await next_of(app_pinger, "pong")
            pongs += 1
            await asyncio.sleep(0.5)
        return pongs

    async def ws_pings():
        pongs = 0
        for _ in range(10):
            waiter = await ws_pinger.ping()
            await asyncio.wait_for(waiter, WAIT)
            pongs += 1
            await asyncio.sleep(0.5)
        return pongs

    _, app_pongs, ws_pongs = await asyncio.gather(wait_close(), app_pings(), ws_pings())
    # Both pingers outlived the timeout and still chat.
    await say(app_pinger, "alive")
    alive = (await chat_with(app_pinger, "alive"))["text"]
    await say(ws_pinger, "alive too")
    alive_too = (await chat_with(ws_pinger, "alive too"))["text"]
    return {
        "closed": closed,
        "app_pongs": app_pongs,
        "ws_pongs": ws_pongs,
        "after_timeout": [alive, alive_too],
    }


async def ratelimit(base):
    ws, _, _ = await greeted(base)
    for i in range(6):
        await say(ws, f"burst-{i}")
    events = []
    while len(events) < 6:
        ev = await next_of(ws, ("chat", "error"))
        events.append({"type": ev["type"], "code": ev.get("code"), "retry_ms": ev.get("retry_ms")})
    await ws.send(json.dumps({"type": "ping"}))
    pong = await next_of(ws, "pong")
    await asyncio.sleep(1.2)
    await say(ws, "later")
    later = await next_of(ws, ("chat", "error"))
    await ws.close()
    return {"events": events, "pong": pong["type"], "later": later}


async def invalid(base):
    ws, welcome, _ = await greeted(base)
    out = {"max_text": welcome["max_text"]}
    await say(ws, "x" * (welcome["max_text"] + 1))
    out["oversized"] = await next_of(ws, ("chat", "error"))
    await ws.send(b"\xff\xfe{bad")
    out["invalid_utf8"] = await next_of(ws, ("chat", "error"))
    await ws.send("this is not json")
    out["not_json"] = await next_of(ws, ("chat", "error"))
    await say(ws, "x" * welcome["max_text"])
    out["at_limit"] = (await next_of(ws, ("chat", "error")))["type"]
    await ws.close()
    return out


async def muted(base, token):
    ws, _, _ = await greeted(base)
    await ws.send(json.dumps({"type": "join", "nick": "troll"}))
    await next_of(ws, "join")
    await say(ws, "before the mute")
    before = (await next_of(ws, ("chat", "error")))["type"]

    def mute(auth):
        req = urllib.request.Request(
            f"{base}/api/v1/chat/live/chat/mute",
            data=json.dumps({"user": "troll", "minutes": 5}).encode(),
            headers={"Content-Type": "application/json", **auth},
            method="POST",
        )
        try:
            with urllib.request.urlopen(req, timeout=WAIT) as r:
                return r.status
        except urllib.error.HTTPError as e:
            return e.code

    no_auth = mute({})
    with_auth = mute({"Authorization": f"Bearer {token}"})
    mute_event = await next_of(ws, "mute")
    await say(ws, "after the mute")
    after = await next_of(ws, ("chat", "error"))
    await ws.close()
    return {
        "before": before,
        "no_auth": no_auth,
        "with_auth": with_auth,
        "mute_event": mute_event,
        "after": after,
    }


async def endpoint_usable(base):
    ep = endpoint(base, "live", "chat")
    ws = await websockets.connect(ep["url"], open_timeout=WAIT)
    welcome = await next_of(ws, "welcome")
    await say(ws, "via the endpoint")
    echo = await next_of(ws, "chat")
    await ws.close()
    return {"endpoint": ep, "welcome": welcome, "echo": echo["text"]}


SCENARIOS = {
    "fanout": fanout,
    "history": history,
    "silent": silent,
    "ratelimit": ratelimit,
    "invalid": invalid,
    "muted": muted,
    "endpoint": endpoint_usable,
}

if __name__ == "__main__":
    name, base, *rest = sys.argv[1:]
    result = asyncio.run(asyncio.wait_for(SCENARIOS[name](base, *rest), 60))
    print(json.dumps(result))
