"""Send-rate limits (campaigns.throttle) and the worker's SMTP connection pool."""

import pytest
from django_scopes import scope, scopes_disabled

from campaign_support import ready_campaign, ready_tenant
from mandant.campaigns import send_loop, services, throttle
from mandant.campaigns.models import Delivery, DeliveryStatus, RateWindow
from mandant.campaigns.smtp_pool import POOL, dot_stuffed
from mandant.tenants.models import TenantVersion
from worker import IMMEDIATE_TASKS


def test_a_window_grants_at_most_its_share_and_says_when_to_ask_again(db):
    limit = throttle.Limit("relay:test", 36_000)  # ten a second
    assert (limit.window_seconds, limit.per_window) == (1, 10)
    granted, _wait = throttle.reserve([limit], 7)
    again, wait = throttle.reserve([limit], 7)
    assert granted + again <= 10 and granted == 7
    if again < 3:  # the second fell into a new window: it may have got all 7
        assert again == 7
    nothing, wait = throttle.reserve([limit], 100)
    assert nothing <= 10 and 0 < wait <= 1
    assert RateWindow.objects.get(key="relay:test").used <= 10


def test_small_limits_use_minute_windows_and_chunks_never_exceed_them():
    limit = throttle.Limit("tenant:1", 10_000)
    assert (limit.window_seconds, limit.per_window) == (60, 166)
    assert throttle.chunk_size([limit], 100) == 100
    assert throttle.chunk_size([throttle.Limit("tenant:2", 600)], 100) == 10


def test_the_limits_come_from_the_edition_and_the_relay_setting(world, settings):
    settings.SENDING_RELAY_RATE_PER_HOUR = None
    kunde1 = world.kunde1  # BASIC
    assert [limit.key for limit in throttle.limits_for(kunde1, "h:25")] == [f"tenant:{kunde1.pk}"]
    world.set_version(kunde1, TenantVersion.ENTERPRISE)
    kunde1.refresh_from_db()
    assert throttle.limits_for(kunde1, "h:25") == []  # unlimited edition
    settings.SENDING_RELAY_RATE_PER_HOUR = 72_000
    assert throttle.limits_for(kunde1, "h:25") == [throttle.Limit("relay:h:25", 72_000)]


def test_a_limited_campaign_waits_for_the_next_window(world, monkeypatch, smtp, settings):
    settings.TASKS = IMMEDIATE_TASKS
    settings.SENDING_RELAY_RATE_PER_HOUR = 36_000  # ten a second
    ready = ready_tenant(world, monkeypatch)
    with scope(tenant=ready.tenant.pk):
        from mandant.contacts.models import Contact, ListMembership

        contacts = Contact.objects.bulk_create(
            [Contact(tenant=ready.tenant, email=f"r{i}@example.net") for i in range(13)]
        )
        ListMembership.objects.bulk_create(
            [
                ListMembership(tenant=ready.tenant, contact_list=ready.contact_list, contact=c)
                for c in contacts
            ]
        )
    sleeps: list[float] = []
    real_sleep = send_loop.time.sleep
    monkeypatch.setattr(send_loop.time, "sleep", lambda s: (sleeps.append(s), real_sleep(s)))
    campaign = ready_campaign(ready)
    with scope(tenant=ready.tenant.pk):
        services.campaign_send(actor=ready.actor, tenant=ready.tenant, campaign=campaign)
    assert len(smtp.handler.received) == 15
    assert sleeps, "15 messages at ten a second must wait for a second window"
    with scopes_disabled():
        assert set(Delivery.objects.filter(campaign=campaign).values_list("status", flat=True)) == {
            DeliveryStatus.SENT
        }


def test_connections_are_kept_for_the_next_batch(world, monkeypatch, smtp, settings):
    settings.TASKS = IMMEDIATE_TASKS
    POOL.close_all()
    ready = ready_tenant(world, monkeypatch)
    opened = POOL.opened
    for name in ("Eins", "Zwei", "Drei"):
        campaign = ready_campaign(ready, name=name)
        with scope(tenant=ready.tenant.pk):
            services.campaign_send(actor=ready.actor, tenant=ready.tenant, campaign=campaign)
    assert len(smtp.handler.received) == 6
    # The connections the first campaign opened served the next two.
    assert POOL.opened - opened == smtp.handler.connections <= 2
    POOL.close_all()


@pytest.mark.parametrize(
    ("data", "wire"),
    [
        (b"a\r\n.b\r\n", b"a\r\n..b\r\n.\r\n"),
        (b".\r\nx", b"..\r\nx\r\n.\r\n"),
        (b"plain\r\n", b"plain\r\n.\r\n"),
        (b"..\r\na\n.b\r\n", b"...\r\na\n..b\r\n.\r\n"),
    ],
)
def test_dot_stuffing(data, wire):
    assert dot_stuffed(data) == wire


def _send_on(channel, recipient: str, data: bytes):  # type: ignore[no-untyped-def]
    """Drive one channel until its message is answered and the channel is free again (a
    refusal is followed by RSET): what the sending loop does for many."""
    import selectors

    from mandant.campaigns.smtp_channels import Job

    outcome = channel.start(Job(1, "", "news@example.org", recipient, data))
    with selectors.DefaultSelector() as selector:
        while channel.busy:
            events = selectors.EVENT_READ | (selectors.EVENT_WRITE if channel.wants_write else 0)
            selector.register(channel.socket, events)
            ready = selector.select(5)
            selector.unregister(channel.socket)
            assert ready, "no answer"
            mask = ready[0][1]
            done = channel.handle(
                bool(mask & selectors.EVENT_READ), bool(mask & selectors.EVENT_WRITE)
            )
            if done is not None:
                outcome = done[1]
    return outcome


@pytest.mark.parametrize("pipelining", [True, False])
def test_an_exchange_keeps_the_connection_through_refusals(smtp, pipelining):
    """MAIL, RCPT and DATA in one write when the server offers PIPELINING, one by one when
    not: a refused and a deferred recipient are answered with the server's reply, the
    connection is reset and the next message goes out on it."""
    from django.core.mail import get_connection

    from mandant.campaigns.smtp_channels import Channel
    from mandant.campaigns.smtp_pool import PooledConnection
    from mandant.notices.delivery import Result

    smtp.handler.pipelining = pipelining
    smtp.handler.refuse.add("weg@example.net")
    smtp.handler.defer.add("spaeter@example.net")
    channel = Channel(PooledConnection(get_connection(fail_silently=False)), timeout=5)
    data = b"Subject: Hallo\r\n\r\n.Punkt am Zeilenanfang\r\n"
    try:
        assert _send_on(channel, "a@example.net", data).result is Result.ACCEPTED
        smtp_client = channel.pooled.smtp
        assert smtp_client is not None and smtp_client.has_extn("pipelining") is pipelining
        refused = _send_on(channel, "weg@example.net", data)
        assert refused.result is Result.PERMANENT and refused.response.startswith("550")
        deferred = _send_on(channel, "spaeter@example.net", data)
        assert deferred.result is Result.TEMPORARY and deferred.response.startswith("451")
        assert _send_on(channel, "b@example.net", data).result is Result.ACCEPTED
    finally:
        channel.close()
    assert [r.rcpt_tos for r in smtp.handler.received] == [["a@example.net"], ["b@example.net"]]
    assert smtp.handler.connections == 1
    assert b"\r\n.Punkt am Zeilenanfang" in smtp.handler.received[0].data  # dot-stuffing undone


def test_a_dropped_connection_fails_the_message_in_flight_with_a_temporary_outcome(smtp):
    """The relay hangs up in the middle of a transaction: the message is a temporary failure
    (the sending loop tries it once more on a fresh connection), the channel is closed."""
    from django.core.mail import get_connection

    from mandant.campaigns.smtp_channels import Channel
    from mandant.campaigns.smtp_pool import PooledConnection
    from mandant.notices.delivery import Result

    channel = Channel(PooledConnection(get_connection(fail_silently=False)), timeout=5)
    assert channel.pooled.open() is None
    smtp.handler.on_rcpt = lambda session: channel.socket.shutdown(2)  # type: ignore[union-attr]
    outcome = _send_on(channel, "a@example.net", b"Subject: x\r\n\r\nx\r\n")
    assert outcome.result is Result.TEMPORARY and outcome.reconnect
    assert channel.pooled.smtp is None and not channel.busy
    assert smtp.handler.received == []


@pytest.mark.parametrize("tls", [False, True])
def test_a_message_larger_than_the_socket_buffers_is_written_in_parts(
    smtp, settings, tls, tmp_path, monkeypatch
):  # type: ignore[no-untyped-def]
    """Four megabytes do not fit the kernel's buffers: the channel writes what the socket
    takes and goes on when it can take more (plain and TLS), and the message arrives whole."""
    import socket
    import ssl

    from django.core.mail import get_connection
    from tests.smtp_sink import self_signed_certificate, smtp_server

    from mandant.campaigns.smtp_channels import Channel
    from mandant.campaigns.smtp_pool import PooledConnection
    from mandant.config.env import email_settings
    from mandant.notices.delivery import Result

    data = b"Subject: gross\r\n\r\n" + b"x" * 998 + b"\r\n" + (b"y" * 998 + b"\r\n") * 4000
    context = None
    if tls:
        pem = self_signed_certificate(tmp_path)
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(pem)
        monkeypatch.setenv("SSL_CERT_FILE", str(pem))
    with smtp_server(tls_context=context) as relay:
        for key, value in email_settings(relay.url + ("?tls=1" if tls else "")).items():
            setattr(settings, key, value)
        channel = Channel(PooledConnection(get_connection(fail_silently=False)), timeout=10)
        assert channel.pooled.open() is None
        # A small send buffer, so the socket must say "would block" again and again.
        channel.socket.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 8192)  # type: ignore[union-attr]
        writes: list[int] = []
        real_write = Channel._write
        monkeypatch.setattr(
            Channel, "_write", lambda self: (writes.append(len(self.out)), real_write(self))
        )
        try:
            outcome = _send_on(channel, "a@example.net", data)
        finally:
            channel.close()
        assert outcome.result is Result.ACCEPTED, outcome.response
        # The message's bytes went out in several writes, each resumed where the last stopped.
        assert sum(1 for pending in writes if pending > 1_000_000) > 1
        assert relay.handler.received[0].data.replace(b"\r\n", b"\n") == data.replace(
            b"\r\n", b"\n"
        )
