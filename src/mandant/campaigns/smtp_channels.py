"""SMTP transactions driven without blocking, so one thread keeps many connections busy.

A worker process's sending loop (campaigns.send_loop) holds several pooled connections
(campaigns.smtp_pool) and a selector over their sockets. A transaction is a generator of steps
(bytes to write, replies to read) written once, for both exchanges: pipelined (RFC 2920: MAIL,
RCPT and DATA in one write, the message in a second) when the server offers PIPELINING, else
the classic command by command. ``Channel`` writes a step's bytes as the socket accepts them,
collects the replies and moves the generator on; the loop signs the next message while the
server answers. Why not threads: each message then costs a GIL hand-over per reply and
smtplib's line-by-line reads, measured as most of a sending worker's CPU besides the signature.
"""

from __future__ import annotations

import contextlib
import socket
import ssl
import time
from collections.abc import Generator
from dataclasses import dataclass, field

from mandant.campaigns.smtp_pool import PooledConnection, dot_stuffed
from mandant.notices.delivery import Outcome, Result, outcome_for_code

Reply = tuple[int, bytes]
# Bytes to write, and how many replies to read before the transaction goes on.
Step = tuple[bytes, int]
NO_REPLY: Reply = (0, b"")
RSET = b"RSET\r\n"
READ_SIZE = 65536
_WOULD_BLOCK = (BlockingIOError, InterruptedError, ssl.SSLWantReadError, ssl.SSLWantWriteError)


class ChannelError(Exception):
    """The connection failed mid-transaction (dropped, timed out, garbled reply)."""


def transaction(
    sender: str, recipient: str, data: bytes, *, pipelining: bool
) -> Generator[Step, list[Reply], tuple[Outcome, bool]]:
    """One message to one recipient. Returns the outcome and whether the connection needs a
    RSET (after a refusal) before its next message."""
    mail_from = f"MAIL FROM:<{sender}>\r\n".encode()
    rcpt_to = f"RCPT TO:<{recipient}>\r\n".encode()
    if pipelining:
        mail, rcpt, go = yield mail_from + rcpt_to + b"DATA\r\n", 3
    else:
        (mail,) = yield mail_from, 1
        rcpt = go = NO_REPLY
        if mail[0] == 250:
            (rcpt,) = yield rcpt_to, 1
            if rcpt[0] in (250, 251):
                (go,) = yield b"DATA\r\n", 1
    refused = None
    if mail[0] != 250:
        refused = outcome_for_code(*mail, stage="mail")
    elif rcpt[0] not in (250, 251):
        refused = outcome_for_code(*rcpt, stage="rcpt")
    if refused is not None or go[0] != 354:
        if go[0] == 354:
            # The server took DATA although the envelope failed: end it empty.
            yield b".\r\n", 1
        return refused or outcome_for_code(*go, stage="data"), True
    (done,) = yield dot_stuffed(data), 1
    return outcome_for_code(*done, stage="data"), done[0] != 250


@dataclass
class Job:
    """A message on its way to one recipient."""

    delivery_id: int
    message_id: str
    sender: str
    recipient: str
    data: bytes
    attempt: int = 1
    steps: Generator[Step, list[Reply], tuple[Outcome, bool]] | None = field(
        default=None, repr=False
    )


class Channel:
    """One pooled connection, non-blocking while the sending loop drives it."""

    def __init__(self, pooled: PooledConnection, timeout: float) -> None:
        self.pooled = pooled
        self.timeout = timeout
        self.job: Job | None = None
        self.resetting = False
        self.out = b""
        self.inbox = bytearray()
        self.lines: list[bytes] = []  # lines of a multi-line reply read so far
        self.replies: list[Reply] = []
        self.wanted = 0
        self.deadline = 0.0

    @property
    def busy(self) -> bool:
        return self.job is not None or self.resetting

    @property
    def socket(self) -> socket.socket | None:
        """The connection's socket (an ``ssl.SSLSocket`` after STARTTLS), None when closed."""
        smtp = self.pooled.smtp
        return smtp.sock if smtp is not None else None

    @property
    def wants_write(self) -> bool:
        return bool(self.out)

    def start(self, job: Job) -> Outcome | None:
        """Begin a message; an outcome at once when no connection could be opened."""
        failure = self.pooled.open()
        if failure is not None:
            return failure
        smtp = self.pooled.smtp
        assert smtp is not None and smtp.sock is not None
        if smtp.sock.gettimeout() != 0.0:
            smtp.sock.setblocking(False)
        job.steps = transaction(
            job.sender, job.recipient, job.data, pipelining=smtp.has_extn("pipelining")
        )
        self.job = job
        self.inbox.clear()
        self.lines.clear()
        self._next_step(None)
        return None

    def handle(self, readable: bool, writable: bool) -> tuple[Job, Outcome] | None:
        """Move on after the selector's event; the finished job and its outcome, if any."""
        try:
            if writable and self.out:
                self._write()
            if readable:
                self._read()
            return self._collect()
        except (OSError, ChannelError) as exc:
            return self.fail(exc)

    def check_deadline(self, now: float) -> tuple[Job, Outcome] | None:
        if self.busy and now > self.deadline:
            return self.fail(ChannelError(f"no answer within {self.timeout:g} s"))
        return None

    def fail(self, exc: BaseException) -> tuple[Job, Outcome] | None:
        """The connection is closed; a job that was in flight is the caller's to retry."""
        job, self.job = self.job, None
        self.close()
        if job is None:
            return None
        return job, Outcome(Result.TEMPORARY, f"{type(exc).__name__}: {exc}", reconnect=True)

    def close(self) -> None:
        self.job = None
        self.resetting = False
        self.out = b""
        self.wanted = 0
        self.replies.clear()
        # No QUIT: the connection failed or is mid-transaction.
        self.pooled.drop()

    def restore_blocking(self) -> None:
        """Back to the pool as smtplib uses it (blocking, with the backend's timeout)."""
        sock = self.socket
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.settimeout(self.pooled.backend.timeout)

    # --- internals ---------------------------------------------------------------------------

    def _next_step(self, replies: list[Reply] | None) -> tuple[Job, Outcome] | None:
        job = self.job
        assert job is not None and job.steps is not None
        try:
            data, self.wanted = job.steps.send(replies)  # type: ignore[arg-type]
        except StopIteration as done:
            outcome, reset = done.value
            self.job = None
            self.pooled.last_used = time.monotonic()
            if outcome.reconnect:
                self.close()
            elif reset:
                self.resetting = True
                self._send(RSET, 1)
            return job, outcome
        self._send(data, self.wanted)
        return None

    def _send(self, data: bytes, wanted: int) -> None:
        self.out = data
        self.wanted = wanted
        self.replies.clear()
        self.deadline = time.monotonic() + self.timeout
        self._write()

    def _write(self) -> None:
        sock = self.socket
        if sock is None:
            raise ChannelError("connection closed")
        while self.out:
            try:
                sent = sock.send(self.out)
            except _WOULD_BLOCK:
                return
            self.out = self.out[sent:]

    def _read(self) -> None:
        sock = self.socket
        if sock is None:
            raise ChannelError("connection closed")
        while True:
            try:
                chunk = sock.recv(READ_SIZE)
            except _WOULD_BLOCK:
                return
            if not chunk:
                raise ChannelError("the server closed the connection")
            self.inbox += chunk
            # TLS may hold decrypted bytes the selector cannot see.
            if not isinstance(sock, ssl.SSLSocket) or not sock.pending():
                return

    def _collect(self) -> tuple[Job, Outcome] | None:
        while True:
            end = self.inbox.find(b"\r\n")
            if end < 0:
                return None
            line = bytes(self.inbox[:end])
            del self.inbox[: end + 2]
            if len(line) < 3 or not line[:3].isdigit():
                raise ChannelError(f"garbled reply {line[:40]!r}")
            self.lines.append(line[4:].strip(b" \t"))
            if line[3:4] == b"-":
                continue
            reply = (int(line[:3]), b"\n".join(self.lines))
            self.lines.clear()
            if not self.busy:
                raise ChannelError(f"unexpected reply {reply[0]}")  # e.g. 421 while idle
            self.replies.append(reply)
            self.deadline = time.monotonic() + self.timeout
            if len(self.replies) < self.wanted:
                continue
            if self.resetting:
                self.resetting = False
                self.replies.clear()
                if reply[0] != 250:
                    self.close()
                return None
            replies = self.replies.copy()
            finished = self._next_step(replies)
            if finished is not None:
                return finished
