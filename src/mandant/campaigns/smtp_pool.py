"""Persistent SMTP connections of one worker process (DESIGN §4), kept across batches.

The sending loop (campaigns.send_loop) takes connections from the pool for a batch and gives
them back afterwards, so a worker that sends batch after batch opens each connection once. A
connection idle for longer than ``SMTP_POOL_IDLE_SECONDS`` is closed instead of reused: relays
drop idle clients.

The transactions themselves are driven without blocking by campaigns.smtp_channels.
"""

from __future__ import annotations

import contextlib
import smtplib
import threading
import time
from dataclasses import dataclass

from django.conf import settings
from django.core.mail.backends.smtp import EmailBackend as SMTPBackend

from mandant.notices.delivery import Outcome, Result

DEFAULT_IDLE_SECONDS = 30.0


def idle_seconds() -> float:
    return float(getattr(settings, "SMTP_POOL_IDLE_SECONDS", DEFAULT_IDLE_SECONDS))


@dataclass(frozen=True)
class RelayKey:
    host: str
    port: int
    username: str
    use_tls: bool
    use_ssl: bool

    @property
    def name(self) -> str:
        return f"{self.host}:{self.port}"


def relay_key(backend: SMTPBackend) -> RelayKey:
    return RelayKey(
        host=str(backend.host),
        port=int(backend.port),
        username=str(backend.username or ""),
        use_tls=bool(backend.use_tls),
        use_ssl=bool(backend.use_ssl),
    )


def dot_stuffed(data: bytes) -> bytes:
    """DATA content: leading dots doubled, ended by CRLF "." CRLF (``data`` has CRLF ends)."""
    # A line starts at the beginning or after LF: two plain replaces, ten times faster than
    # a multi-line expression.
    quoted = data.replace(b"\n.", b"\n..")
    if quoted[:1] == b".":
        quoted = b"." + quoted
    if not quoted.endswith(b"\r\n"):
        quoted += b"\r\n"
    return quoted + b".\r\n"


class PooledConnection:
    """One SMTP connection, opened through Django's SMTP backend (TLS, SSL and login as
    configured)."""

    def __init__(self, backend: SMTPBackend) -> None:
        self.backend = backend
        self.last_used = 0.0

    @property
    def smtp(self) -> smtplib.SMTP | None:
        return self.backend.connection

    def open(self) -> Outcome | None:
        if self.smtp is not None:
            return None
        try:
            self.backend.open()
            smtp = self.smtp
            assert smtp is not None
            smtp.ehlo_or_helo_if_needed()
        except Exception as exc:
            self.close()
            return Outcome(Result.TEMPORARY, f"{type(exc).__name__}: {exc}", reconnect=True)
        return None

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.backend.close()
        self.backend.connection = None

    def drop(self) -> None:
        """Close the socket without a QUIT (a failed connection, or one mid-transaction)."""
        smtp = self.smtp
        if smtp is not None:
            with contextlib.suppress(Exception):
                smtp.close()
        self.backend.connection = None


class ConnectionPool:
    """Idle connections per relay (thread-safe)."""

    def __init__(self) -> None:
        self._idle: dict[RelayKey, list[PooledConnection]] = {}
        self._lock = threading.Lock()
        self.opened = 0  # connections created by this pool (the tests read it)

    def acquire(self, backend: SMTPBackend) -> PooledConnection:
        key = relay_key(backend)
        limit = idle_seconds()
        with self._lock:
            idle = self._idle.get(key, [])
            while idle:
                connection = idle.pop()
                if time.monotonic() - connection.last_used <= limit:
                    return connection
                connection.close()
            self.opened += 1
        return PooledConnection(backend)

    def release(self, connection: PooledConnection) -> None:
        if connection.smtp is None:
            return
        with self._lock:
            self._idle.setdefault(relay_key(connection.backend), []).append(connection)

    def close_all(self) -> None:
        with self._lock:
            connections = [c for idle in self._idle.values() for c in idle]
            self._idle.clear()
        for connection in connections:
            connection.close()


# The worker process's pool.
POOL = ConnectionPool()
