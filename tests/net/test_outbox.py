"""What one streaming client is sent (``stenod.net.outbox.Outbox``): in order, by one task, with a bound.

The connection is a stand-in whose ``send`` the test controls (a client that reads, or one that never
does), and once a real websockets connection on loopback; no daemon or model.
"""

from __future__ import annotations

import asyncio
import json
import random

import pytest
from websockets.asyncio.client import connect
from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed

from stenod.net.outbox import Outbox


class Transport:
    def __init__(self) -> None:
        self.aborted = False

    def abort(self) -> None:
        self.aborted = True


class Peer:
    """A connection as Outbox uses it. ``reads`` False: a client that never reads (every send waits forever)."""

    remote_address = ("127.0.0.1", 4242)

    def __init__(self, reads: bool = True, answers_close: bool = True) -> None:
        self.reads = reads
        self.answers_close = answers_close
        self.sent: list[str] = []
        self.senders: set[asyncio.Task] = set()
        self.closed: tuple[int, str] | None = None
        self.transport = Transport()
        self._never = asyncio.Event()

    async def send(self, message: str) -> None:
        task = asyncio.current_task()
        assert task is not None
        self.senders.add(task)
        if not self.reads:
            await self._never.wait()
        for _ in range(random.randrange(3)):  # the network takes its time, now and then
            await asyncio.sleep(0)
        self.sent.append(message)

    async def close(self, code: int, reason: str) -> None:
        self.closed = (code, reason)
        if not self.answers_close:
            await self._never.wait()


def test_messages_go_out_in_order_from_one_task_of_its_own() -> None:
    random.seed(7)

    async def run() -> tuple[Peer, asyncio.Task]:
        peer = Peer()
        outbox = Outbox(peer)
        try:
            for i in range(500):
                outbox.put(f"m{i}")
                if i % 7 == 0:
                    await asyncio.sleep(0)  # the producer yields now and then, as the pipeline does
            await outbox.flush()
        finally:
            outbox.close()
        me = asyncio.current_task()
        assert me is not None
        return peer, me

    peer, producer = asyncio.run(run())
    assert peer.sent == [f"m{i}" for i in range(500)]
    assert len(peer.senders) == 1 and producer not in peer.senders  # one sender, not the producer's task
    assert peer.closed is None


@pytest.mark.parametrize("answers_close", [True, False])
def test_a_client_that_never_reads_is_shut_out_with_1008_past_the_bound(answers_close: bool) -> None:
    async def run() -> tuple[Peer, Outbox]:
        peer = Peer(reads=False, answers_close=answers_close)
        outbox = Outbox(peer, limit=20)
        try:
            for i in range(20):
                outbox.put(f"m{i}")
                await asyncio.sleep(0)
            assert not outbox.overflowed  # the first is stuck in send; 19 wait: within the bound
            for i in range(20, 100):
                outbox.put(f"m{i}")
            assert outbox.overflowed
            await asyncio.wait_for(outbox.flush(), 5)  # returns: the client was shut out
        finally:
            outbox.close()
        return peer, outbox

    peer, outbox = asyncio.run(run())
    assert outbox.overflowed and peer.closed == (1008, "more than 20 events unread")
    assert peer.sent == []
    assert peer.transport.aborted  # the link is cut, closing handshake answered or not


def test_a_reader_is_never_shut_out_however_much_it_is_sent() -> None:
    async def run() -> tuple[Peer, Outbox]:
        peer = Peer()
        outbox = Outbox(peer, limit=20)
        try:
            for i in range(2000):
                outbox.put(f"m{i}")
                while outbox._queue.qsize() > 10:  # a client that reads keeps the queue short
                    await asyncio.sleep(0)
            await outbox.flush()
        finally:
            outbox.close()
        return peer, outbox

    peer, outbox = asyncio.run(run())
    assert not outbox.overflowed and peer.closed is None and len(peer.sent) == 2000


def test_over_a_real_websocket_the_order_holds_and_the_bound_closes_with_1008() -> None:
    async def run() -> tuple[list[int], int | None, str]:
        async def handler(ws: ServerConnection) -> None:
            count = int(await ws.recv())
            outbox = Outbox(ws, limit=100)
            try:
                for i in range(count):
                    outbox.put(json.dumps({"seq": i}))
                    if count <= 100:
                        await asyncio.sleep(0)
                await outbox.flush()
            finally:
                outbox.close()

        async with serve(handler, "127.0.0.1", 0) as server:
            url = f"ws://127.0.0.1:{next(iter(server.sockets)).getsockname()[1]}"
            async with connect(url) as ws:
                await ws.send("100")
                got = [json.loads(await asyncio.wait_for(ws.recv(), 10))["seq"] for _ in range(100)]
            async with connect(url) as ws:
                await ws.send("101")  # put all at once: one more than the bound before anything is sent
                with pytest.raises(ConnectionClosed) as info:
                    await asyncio.wait_for(ws.recv(), 10)
            rcvd = info.value.rcvd
        return got, rcvd.code if rcvd else None, rcvd.reason if rcvd else ""

    got, code, reason = asyncio.run(run())
    assert got == list(range(100))
    assert (code, reason) == (1008, "more than 100 events unread")
