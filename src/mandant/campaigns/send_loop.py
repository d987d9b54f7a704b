"""The sending loop of one ``send_batch``: one thread, many SMTP connections (DESIGN §4).

The loop claims rows (campaigns.claims), personalises and signs each message when a connection
is free, and lets the selector say which connections have answers. Each answer is marked right
after it was read, all answers read at once in one statement, before the next message is
started: a worker killed at any point can send again only the messages whose "250" it had
read but not yet marked (RFC 1047). Without an SMTP transport (``outbox://``, or none
configured) the rows are handled one after the other.
"""

from __future__ import annotations

import contextlib
import selectors
import socket
import time
from collections import deque
from email import message_from_bytes, policy

from django.conf import settings
from django.core.mail import get_connection
from django.core.mail.backends.smtp import EmailBackend as SMTPBackend
from django.db import transaction

from mandant.campaigns.claims import (
    STATUS_CHECK_SECONDS,
    Batch,
    BatchReport,
    ClaimedContact,
    Marks,
    Rows,
    StopWatch,
    message_id_of,
    not_sendable,
    release,
)
from mandant.campaigns.message import personalise
from mandant.campaigns.smtp_channels import Channel, Job
from mandant.campaigns.smtp_pool import POOL
from mandant.notices.backends import OutboxBackend
from mandant.notices.delivery import Outcome, Result, Wire
from mandant.notices.models import OutboxMessage

DEFAULT_CONNECTIONS = 8
DEFAULT_TIMEOUT_SECONDS = 60.0
OUTBOX_RESPONSE = "kept in the outbox (outbox://)"
NO_TRANSPORT = "No SMTP transport is configured (EMAIL_URL)."


def connection_count() -> int:
    return max(1, int(getattr(settings, "CAMPAIGN_SMTP_CONNECTIONS", DEFAULT_CONNECTIONS)))


def send_rows(batch: Batch, report: BatchReport) -> None:
    transport = get_connection(fail_silently=True)
    marks = Marks(batch.campaign_id, report)
    try:
        if isinstance(transport, SMTPBackend):
            timeout = float(transport.timeout or DEFAULT_TIMEOUT_SECONDS)
            SendLoop(batch, report, marks, timeout).run()
        else:
            _send_one_by_one(batch, report, marks, outbox=isinstance(transport, OutboxBackend))
    finally:
        marks.close()


# --- over SMTP ------------------------------------------------------------------------------


class SendLoop:
    def __init__(self, batch: Batch, report: BatchReport, marks: Marks, timeout: float) -> None:
        self.batch = batch
        self.report = report
        self.marks = marks
        self.timeout = timeout
        self.rows = Rows(batch)
        self.watch = StopWatch(batch.campaign_id)
        self.queue: deque[tuple[int, ClaimedContact | None]] = deque()
        self.channels: list[Channel] = []
        self.selector = selectors.DefaultSelector()
        self.registered: dict[Channel, tuple[socket.socket, int]] = {}  # channel → (socket, events)
        self.claim_after = 0.0  # the rate limit asks to wait until then
        self.max_connections = connection_count()

    def run(self) -> None:
        failure: Exception | None = None
        paused = False
        try:
            while True:
                paused = paused or self.watch.stop()
                if not paused and failure is None:
                    try:
                        self._start_messages()
                    except Exception as exc:
                        # Nothing new starts, but the messages on the wire are answered and
                        # marked first: dropping them would send them again after the lease.
                        failure = exc
                busy = [channel for channel in self.channels if channel.busy]
                if not busy:
                    if paused or failure is not None or (self.rows.done and not self.queue):
                        break
                    wait = self.claim_after - time.monotonic()
                    if wait > 0:
                        time.sleep(min(wait, STATUS_CHECK_SECONDS * 5))
                    continue
                self._wait_for_answers(busy)
                self.marks.flush()
            self.report.stopped = paused
        finally:
            # Rows claimed but not started go back at once (the lease would hold them).
            release([pk for pk, _contact in self.queue])
            self.queue.clear()
            self._give_back_connections()
        if failure is not None:
            raise failure

    def _start_messages(self) -> None:
        """A message for each free connection; a new connection only for a message in hand,
        so a small campaign opens few."""
        idle = [channel for channel in self.channels if not channel.busy]
        while idle or len(self.channels) < self.max_connections:
            row = self._next_row()
            if row is None:
                return
            pk, contact = row
            assert contact is not None
            data = personalise(self.batch.skeleton, contact)
            job = Job(
                delivery_id=pk,
                message_id=message_id_of(data),
                sender=self.batch.skeleton.envelope_from,
                recipient=contact.email,
                data=data,
            )
            self._start(idle.pop() if idle else self._new_channel(), job)

    def _new_channel(self) -> Channel:
        backend = get_connection(fail_silently=False)
        assert isinstance(backend, SMTPBackend)
        channel = Channel(POOL.acquire(backend), self.timeout)
        self.channels.append(channel)
        return channel

    def _next_row(self) -> tuple[int, ClaimedContact | None] | None:
        while True:
            while self.queue:
                pk, contact = self.queue.popleft()
                refusal = not_sendable(contact)
                if refusal is None:
                    return pk, contact
                self.marks.add(pk, refusal, "")
            if self.rows.done or time.monotonic() < self.claim_after:
                return None
            chunk, wait = self.rows.next_chunk()
            if not chunk:
                self.claim_after = time.monotonic() + wait
                return None
            self.queue.extend(chunk)

    def _start(self, channel: Channel, job: Job) -> None:
        failure = channel.start(job)
        if failure is not None:
            self._finish(channel, job, failure)
        else:
            self._watch(channel)

    def _finish(self, channel: Channel, job: Job, outcome: Outcome) -> None:
        if outcome.reconnect and job.attempt == 1 and not outcome.response.startswith("421"):
            # A reused connection the relay had dropped: once more on a fresh one.
            job.attempt = 2
            self._start(channel, job)
            return
        accepted = outcome.result is Result.ACCEPTED
        self.marks.add(job.delivery_id, outcome, job.message_id if accepted else "")

    def _watch(self, channel: Channel) -> None:
        """Register the channel's socket for what it waits for (answers; room to write). Kept
        by socket, not file number: a reopened connection may get the closed one's number."""
        sock = channel.socket
        current = self.registered.get(channel)
        if current is not None and current[0] is not sock:
            self._forget(channel)
            current = None
        if sock is None:
            return
        events = selectors.EVENT_READ | (selectors.EVENT_WRITE if channel.wants_write else 0)
        if current is None:
            self.selector.register(sock, events, channel)
        elif current[1] != events:
            self.selector.modify(sock, events, channel)
        else:
            return
        self.registered[channel] = (sock, events)

    def _forget(self, channel: Channel) -> None:
        sock, _events = self.registered.pop(channel)
        with contextlib.suppress(KeyError, ValueError, OSError):
            self.selector.unregister(sock)

    def _wait_for_answers(self, busy: list[Channel]) -> None:
        timeout = min(channel.deadline for channel in busy) - time.monotonic()
        events = self.selector.select(max(0.0, min(timeout, STATUS_CHECK_SECONDS)))
        for key, mask in events:
            channel: Channel = key.data
            done = channel.handle(
                bool(mask & selectors.EVENT_READ), bool(mask & selectors.EVENT_WRITE)
            )
            if done is not None:
                self._finish(channel, *done)
            self._watch(channel)
        now = time.monotonic()
        for channel in busy:
            done = channel.check_deadline(now)
            if done is not None:
                self._finish(channel, *done)
                self._watch(channel)

    def _give_back_connections(self) -> None:
        for channel in list(self.registered):
            self._forget(channel)
        self.selector.close()
        for channel in self.channels:
            if channel.busy:
                channel.close()  # stopped mid-transaction: its state is unknown
            channel.restore_blocking()
            POOL.release(channel.pooled)
        self.channels.clear()


# --- without SMTP ---------------------------------------------------------------------------


def keep_in_outbox(wire: Wire) -> Outcome:
    """``EMAIL_URL=outbox://`` (DESIGN §5): the personalised message is kept on the operator's
    outbox page instead of going out, inside the delivery's own transaction (so exactly once),
    and the delivery counts as sent with a response that says where it went."""
    parsed = message_from_bytes(wire.data, policy=policy.default)
    body = parsed.get_body(preferencelist=("plain", "html"))
    OutboxMessage.objects.create(
        from_email=wire.sender,
        to=", ".join(wire.recipients),
        subject=str(parsed.get("Subject", ""))[:998],
        body=body.get_content() if body is not None else "",
        raw=wire.data,
    )
    return Outcome(Result.ACCEPTED, OUTBOX_RESPONSE)


def _send_one_by_one(batch: Batch, report: BatchReport, marks: Marks, *, outbox: bool) -> None:
    rows = Rows(batch)
    watch = StopWatch(batch.campaign_id)
    while True:
        if watch.stop():
            report.stopped = True
            return
        chunk, wait = rows.next_chunk()
        if not chunk:
            if rows.done:
                return
            time.sleep(min(wait, STATUS_CHECK_SECONDS * 5))
            continue
        for index, (pk, contact) in enumerate(chunk):
            if watch.stop():
                release([row_pk for row_pk, _c in chunk[index:]])
                report.stopped = True
                return
            refusal = not_sendable(contact)
            if refusal is not None:
                marks.mark(pk, refusal, "")
                continue
            assert contact is not None
            data = personalise(batch.skeleton, contact)
            if not outbox:
                marks.mark(pk, Outcome(Result.TEMPORARY, NO_TRANSPORT), "")
                continue
            wire = Wire(batch.skeleton.envelope_from, [contact.email], data)
            with transaction.atomic():
                marks.mark(pk, keep_in_outbox(wire), message_id_of(data))
