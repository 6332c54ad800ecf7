"""Reads a weir WebSocket stream with the `websockets` library, an
independent client, and writes its binary messages to stdout for
`secs` seconds (text messages, such as the fMP4 MIME type, go to stderr).

    python3 ws_dump.py URL SECS | ffprobe -i pipe:0
"""

import asyncio
import sys

import websockets


async def dump(url: str, secs: float) -> None:
    out = sys.stdout.buffer
    loop = asyncio.get_running_loop()
    deadline = loop.time() + secs
    async with websockets.connect(url, max_size=None, open_timeout=10) as ws:
        while (left := deadline - loop.time()) > 0:
            try:
                msg = await asyncio.wait_for(ws.recv(), timeout=left)
            except asyncio.TimeoutError:
                break
            if isinstance(msg, bytes):
                out.write(msg)
                out.flush()
            else:
                print(f"text message: {msg}", file=sys.stderr, flush=True)


if __name__ == "__main__":
    try:
        asyncio.run(dump(sys.argv[1], float(sys.argv[2])))
    except BrokenPipeError:
        pass
