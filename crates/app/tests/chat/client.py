"""Independent chat client for crates/app/tests/chat_e2e.rs.

    python3 client.py SCENARIO HTTP_BASE [ARG]

Each scenario talks to a running `weir serve` with the `websockets` package
(not weir code), prints one JSON object with what it saw on stdout, and
exits 0; the Rust test asserts on that JSON. Every wait is bounded.
"""

import asyncio
import hashlib
import hmac
import json
import sys
import time
import urllib.error
import urllib.parse
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


def post_json(base, path, body, headers=None):
    """POST a JSON body; (status, JSON answer)."""
    req = urllib.request.Request(
        f"{base}{path}",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json", **(headers or {})},
        method="POST",
    )
    try:
        with urllib.request.urlopen(req, timeout=WAIT) as r:
            return r.status, json.load(r)
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"null")


def console_login(base, user, password):
    """Logs into /console like the page's form; (status, cookie pair)."""
    req = urllib.request.Request(
        f"{base}/console/login",
        data=urllib.parse.urlencode({"user": user, "password": password}).encode(),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(req, timeout=WAIT) as r:
            return r.status, r.headers["Set-Cookie"].split(";")[0]
    except urllib.error.HTTPError as e:
        return e.code, None


async def cookie_moderation(base, password):
    """Chat moderation with the console's session cookie, no API token."""
    ws, _, _ = await greeted(base)
    await ws.send(json.dumps({"type": "join", "nick": "troll"}))
    await next_of(ws, "join")
    mute = {"user": "troll", "minutes": 5}
    path = "/api/v1/chat/live/chat"
    no_auth, _ = post_json(base, f"{path}/mute", mute)
    bad_login, _ = console_login(base, "admin", "wrong")
    login, cookie = console_login(base, "admin", password)
    forged, _ = post_json(base, f"{path}/mute", mute, {"Cookie": "weir_session=forged"})
    # The cookie counts only with the browser's word that the call comes
    # from this origin (CSRF); a page of the console sends this Origin.
    cookie_only, _ = post_json(base, f"{path}/mute", mute, {"Cookie": cookie})
    from_console = {"Cookie": cookie, "Origin": base}
    with_cookie, answer = post_json(base, f"{path}/mute", mute, from_console)
    mute_event = await next_of(ws, "mute")
    await say(ws, "after the mute")
    after = await next_of(ws, ("chat", "error"))
    kick, _ = post_json(base, f"{path}/kick", {"user": "troll"}, from_console)
    closed = None
    try:
        while True:
            await asyncio.wait_for(ws.recv(), WAIT)
    except websockets.ConnectionClosed as e:
        closed = e.rcvd.code if e.rcvd else None
    return {
        "no_auth": no_auth,
        "bad_login": bad_login,
        "login": login,
        "forged": forged,
        "cookie_only": cookie_only,
        "with_cookie": with_cookie,
        "until": answer.get("until"),
        "mute_event": mute_event,
        "after": after,
        "kick": kick,
        "closed": closed,
    }


def sign(secret, room, user, expires):
    """A join token, computed here from the documented formula."""
    msg = f"chat:{room}:{user}:{expires}".encode()
    return f"{expires}." + hmac.new(secret.encode(), msg, hashlib.sha256).hexdigest()


async def join(ws, nick, token=None):
    msg = {"type": "join", "nick": nick}
    if token is not None:
        msg["token"] = token
    await ws.send(json.dumps(msg))
    return await next_of(ws, ("welcome", "error"))


async def tokens(base, secret, cli_token, api_token):
    out = {"endpoint": endpoint(base)}
    room = "live/chat"
    now = int(time.time())
    outsider = await connect(base)
    await say(outsider, "let me in")
    out["chat_first"] = await next_of(outsider, ("welcome", "history", "chat", "error"))
    out["no_token"] = (await join(outsider, "alice"))["code"]
    out["garbage"] = (await join(outsider, "alice", "123.abc"))["code"]
    out["expired"] = (await join(outsider, "alice", sign(secret, room, "alice", now - 10)))["code"]
    out["other_nick"] = (await join(outsider, "mallory", sign(secret, room, "alice", now + 60)))["code"]
    out["other_room"] = (await join(outsider, "alice", sign(secret, "live/x", "alice", now + 60)))["code"]
    out["other_secret"] = (await join(outsider, "alice", sign("nope", room, "alice", now + 60)))["code"]

    alice = await connect(base)
    out["alice"] = await join(alice, "alice", sign(secret, room, "alice", now + 60))
    await next_of(alice, "history")
    await say(alice, "members only")
    out["alice_chat"] = await chat_with(alice, "members only")

    carol = await connect(base)
    out["carol"] = await join(carol, "carol", cli_token)

    no_auth, _ = post_json(base, "/api/v1/chat/token", {"app": "live", "stream": "chat", "user": "dave"})
    status, minted = post_json(
        base,
        "/api/v1/chat/token",
        {"app": "live", "stream": "chat", "user": "dave", "ttl_secs": 120},
        {"Authorization": f"Bearer {api_token}"},
    )
    out["api"] = {"no_auth": no_auth, "status": status, "minted": minted}
    dave = await connect(base)
    out["dave"] = await join(dave, "dave", minted["token"])

    # The outsider never got in: no chat reached it, its next frame is the pong.
    await outsider.send(json.dumps({"type": "ping"}))
    out["outsider_next"] = json.loads(await asyncio.wait_for(outsider.recv(), WAIT))["type"]
    with urllib.request.urlopen(f"{base}/api/v1/chat/live/chat", timeout=WAIT) as r:
        out["members"] = sorted(m["user"] for m in json.load(r)["members"])
    for ws in (outsider, alice, carol, dave):
        await ws.close()
    return out


async def flood(base):
    """Two connections in turn overrun the rate limit (without getting
    closed for flooding); counts the rate-limit errors they got."""
    errors = 0
    for _ in range(2):
        ws, _, _ = await greeted(base)
        for i in range(25):
            await say(ws, f"flood-{i}")
        seen = 0
        while seen < 25:
            ev = await next_of(ws, ("chat", "error"))
            seen += 1
            errors += ev["type"] == "error" and ev["code"] == "rate_limited"
        await ws.close()
    return {"rate_limited": errors}


async def too_big(base):
    """Chat frames of 5 kB and 100 kB, over the transport limit: each closes
    its own connection (code and reason as received), and a bystander in
    the same room keeps chatting after each."""
    bystander, _, _ = await greeted(base)
    out = {}
    for size in (5_000, 100_000):
        ws, _, _ = await greeted(base)
        await say(ws, "x" * size)
        closed = {"code": None, "reason": None}
        try:
            while True:
                await asyncio.wait_for(ws.recv(), WAIT)
        except websockets.ConnectionClosed as e:
            if e.rcvd:
                closed = {"code": e.rcvd.code, "reason": e.rcvd.reason}
        out[str(size)] = closed
        await say(bystander, f"after {size}")
        out[f"after_{size}"] = (await chat_with(bystander, f"after {size}"))["text"]
    await bystander.close()
    return out


SCENARIOS = {
    "fanout": fanout,
    "history": history,
    "silent": silent,
    "ratelimit": ratelimit,
    "invalid": invalid,
    "muted": muted,
    "endpoint": endpoint_usable,
    "cookie_moderation": cookie_moderation,
    "tokens": tokens,
    "flood": flood,
    "too_big": too_big,
}

if __name__ == "__main__":
    name, base, *rest = sys.argv[1:]
    result = asyncio.run(asyncio.wait_for(SCENARIOS[name](base, *rest), 60))
    print(json.dumps(result))
