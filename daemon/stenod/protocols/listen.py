"""``/v1/listen?rate=R``: a client streams its own audio and gets the events of its own pipeline back.

With ``history=1`` the stream's finals are also kept in the dictation history (when the daemon keeps one).

Binary frames are 16-bit little-endian mono PCM at ``R`` Hz; ``{"type": "end"}`` finishes the stream (its last
final is sent, then the connection is closed with 1000). Bad messages are answered with ``error`` events, up
to the flood limit; past it the client is shut out.
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Callable

from websockets.asyncio.server import ServerConnection

from stenod.audio.pcm import PcmStream
from stenod.core.events import Event, Hello
from stenod.live.factory import NewPipeline
from stenod.live.llm import LlmCleaner
from stenod.net.flood import FloodLimit
from stenod.net.messages import Audio, ClientError, decode_history_query, decode_listen, decode_listen_query
from stenod.net.outbox import Outbox, shut_out
from stenod.protocols.events import error_message


async def serve_listen(connection: ServerConnection, query: dict[str, list[str]], *, new_pipeline: NewPipeline,
                       cleaner: LlmCleaner | None, hello: Callable[[int, str], Hello],
                       history: Callable[[str, str], Callable[[Event], None]] | None = None) -> None:
    """Serve one stream: a pipeline of its own (with the LLM clean-up ``cleaner``, if any) until it ends.

    ``hello(rate, stream)`` makes the first message; ``history(stream, source)``, when the daemon keeps a
    history, what keeps the finals of a stream that asks for it.
    """
    stream = secrets.token_hex(6)
    try:
        rate = decode_listen_query(query)
        keep = history(stream, "listen") if decode_history_query(query) and history else None
    except ClientError as exc:
        await connection.close(1008, str(exc))
        return
    outbox = Outbox(connection)

    def send(event: Event) -> None:
        outbox.put(json.dumps(event.to_dict()))
        if keep is not None:
            keep(event)

    live = new_pipeline(send, clean=cleaner.clean if cleaner else None, commands=True)
    pcm = PcmStream(rate)
    complaints = FloodLimit()
    try:
        await connection.send(json.dumps(hello(rate, stream).to_dict()))
        async for raw in connection:
            try:
                message = decode_listen(raw)
            except ClientError as exc:
                if complaints.allow(time.monotonic()):
                    outbox.put(error_message(0, exc.code, str(exc)))
                elif complaints.exhausted:
                    await shut_out(connection, "too many bad messages")
                    break
                continue
            if isinstance(message, Audio):
                live.feed(pcm.feed(message.samples))
                continue
            tail = pcm.finish()
            if tail.size:
                live.feed(tail)
            await live.finish()
            break
        await outbox.flush()
        if not outbox.overflowed:
            await connection.close(1000, "end of stream")
    finally:
        live.close()  # a client gone mid-stream leaves no decodes behind
        outbox.close()
