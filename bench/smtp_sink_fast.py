"""A lean SMTP sink for the sending benchmark: asyncio, PIPELINING, accepts every message.

It runs in its own process (``start_sink``) and counts accepted messages in shared memory
with the time of the last one, so the benchmark can tell when the last message of a campaign
was accepted. It parses just enough SMTP to be a fair peer: commands line by line, replies for
a pipelined group written at once, the message content up to CRLF "." CRLF.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import socket
import time
from multiprocessing.sharedctypes import Synchronized
from typing import Any

EHLO = b"250-sink.bench\r\n250-PIPELINING\r\n250-8BITMIME\r\n250 SIZE 52428800\r\n"
END = b"\r\n.\r\n"


class SinkProtocol(asyncio.Protocol):
    def __init__(self, counter: Any, last: Any) -> None:
        self.counter = counter
        self.last = last
        self.buffer = b""
        self.in_data = False
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        transport.write(b"220 sink.bench ESMTP\r\n")

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        replies = []
        while True:
            if self.in_data:
                end = self.buffer.find(END)
                if end < 0:
                    break
                self.buffer = self.buffer[end + len(END) :]
                self.in_data = False
                self.counter.value += 1
                self.last.value = time.time()
                replies.append(b"250 2.0.0 Ok: queued\r\n")
                continue
            end = self.buffer.find(b"\r\n")
            if end < 0:
                break
            line, self.buffer = self.buffer[:end], self.buffer[end + 2 :]
            verb = line[:4].upper()
            if verb == b"EHLO":
                replies.append(EHLO)
            elif verb == b"DATA":
                self.in_data = True
                # A message may end with the same read: look for its end from the CRLF before.
                self.buffer = b"\r\n" + self.buffer
                replies.append(b"354 End data with <CR><LF>.<CR><LF>\r\n")
            elif verb == b"QUIT":
                replies.append(b"221 Bye\r\n")
                assert self.transport is not None
                self.transport.write(b"".join(replies))
                self.transport.close()
                return
            else:  # HELO, MAIL, RCPT, RSET, NOOP
                replies.append(b"250 Ok\r\n")
        if replies and self.transport is not None:
            self.transport.write(b"".join(replies))


def _serve(sock: socket.socket, counter: Any, last: Any) -> None:
    async def main() -> None:
        loop = asyncio.get_running_loop()
        server = await loop.create_server(lambda: SinkProtocol(counter, last), sock=sock)
        async with server:
            await server.serve_forever()

    asyncio.run(main())


class Sink:
    def __init__(self) -> None:
        context = multiprocessing.get_context("fork")
        self.counter: Synchronized[int] = context.RawValue("q", 0)  # type: ignore[assignment]
        self.last: Synchronized[float] = context.RawValue("d", 0.0)  # type: ignore[assignment]
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(256)
        self.port = self.sock.getsockname()[1]
        self.process = context.Process(
            target=_serve, args=(self.sock, self.counter, self.last), daemon=True
        )

    def start(self) -> Sink:
        self.process.start()
        return self

    def reset(self) -> None:
        self.counter.value = 0
        self.last.value = 0.0

    @property
    def accepted(self) -> int:
        return int(self.counter.value)

    def stop(self) -> None:
        self.process.terminate()
        self.process.join(5)
