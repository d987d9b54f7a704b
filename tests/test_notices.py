"""Operator notices: the form, the fan-out to the administrators, the banner in the tenants."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.test import Client
from django.utils import timezone
from tests.worker import DATABASE_TASKS as DATABASE
from tests.worker import IMMEDIATE_TASKS as IMMEDIATE
from tests.worker import run_worker_once

from mandant.accounts.models import Membership, User
from mandant.accounts.roles import Role
from mandant.accounts.services import apikey_create, membership_set, user_create
from mandant.audit.models import AuditEntry
from mandant.core.actor import Actor
from mandant.core.errors import PermissionDenied
from mandant.notices.models import MessageStatus, Notice, OutboundMessage
from mandant.notices.selectors import active_notices, notice_list, notice_recipients
from mandant.notices.services import notice_create

PASSWORD = "x-Very-long-passw0rd!"


@dataclass
class Admins:
    """Who is an administrator where (the world's tree), and who must get the notice."""

    expected_alpha: dict[str, str]  # address -> language, for a notice to Agentur Alpha's subtree
    expected_all: dict[str, str]


def _person(email: str, *, language: str = "en", verified: bool = True, **fields: object) -> User:
    user = user_create(email=email, password=PASSWORD)
    user.language = language
    user.email_verified_at = timezone.now() if verified else None
    for key, value in fields.items():
        setattr(user, key, value)
    user.save()
    return user


@pytest.fixture
def admins(world) -> Admins:  # type: ignore[no-untyped-def]
    op = Actor(user=world.olga)

    def admin(user: User, *tenants: object) -> None:
        for tenant in tenants:
            membership_set(actor=op, tenant=tenant, user=user, role=Role.ADMINISTRATOR)

    for user, language in ((world.carl, "de"), (world.eve, "en"), (world.paula, "en")):
        user.language = language
        user.email_verified_at = timezone.now()
        user.save()
    # carl: Administrator of Kunde Eins (from the world), German.
    admin(_person("alice@alpha.example"), world.alpha)
    admin(_person("anna@kunde-eins.example", language="de"), world.kunde1, world.filiale)
    admin(_person("ben@filiale.example"), world.filiale)
    admin(_person("udo@kunde-zwei.example", verified=False), world.kunde2)  # not verified
    dora = _person("dora@kunde-zwei.example")
    admin(dora, world.kunde2)
    Membership.objects.filter(user=dora).update(deactivated_at=timezone.now())  # deactivated
    admin(_person("ian@kunde-zwei.example", is_active=False), world.kunde2)  # inactive
    admin(_person("bea@kunde-zwei.example", email_undeliverable_at=timezone.now()), world.kunde2)
    editor = _person("ed@kunde-zwei.example")
    membership_set(actor=op, tenant=world.kunde2, user=editor, role=Role.EDITOR)  # not admin
    # paula is Customer Service of Agentur Alpha: not an administrator.
    expected_alpha = {
        "alice@alpha.example": "en",
        "carl@kunde-eins.example": "de",
        "anna@kunde-eins.example": "de",
        "ben@filiale.example": "en",
    }
    return Admins(
        expected_alpha=expected_alpha, expected_all={**expected_alpha, "eve@fremd.example": "en"}
    )


def form_data(**overrides: str) -> dict[str, str]:
    now = timezone.localtime()
    data = {
        "kind": "outage",
        "severity": "critical",
        "title_en": "Sending is delayed",
        "title_de": "Der Versand verzögert sich",
        "body_en": "Our mail relay is down.\nWe are on it.",
        "body_de": "Unser Mail-Relay ist ausgefallen.\nWir sind dran.",
        "scope": "agentur-alpha",
        "starts_at": (now - timedelta(minutes=5)).strftime("%Y-%m-%dT%H:%M"),
        "ends_at": (now + timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M"),
    }
    data.update(overrides)
    return data


def make_notice(world, *, scope=None, starts=-60, ends=60, **fields):  # type: ignore[no-untyped-def]
    now = timezone.now()
    values = {
        "kind": "maintenance",
        "severity": "warning",
        "title_en": "Maintenance tonight",
        "title_de": "Wartung heute Nacht",
        "body_en": "Short downtime.",
        "body_de": "Kurze Unterbrechung.",
        **fields,
    }
    return Notice.objects.create(
        scope=scope,
        starts_at=now + timedelta(minutes=starts),
        ends_at=now + timedelta(minutes=ends),
        created_by=world.olga,
        **values,
    )


# --- the service ---------------------------------------------------------------------------


def test_only_operators_create_notices(world):
    now = timezone.now()
    args = {
        "kind": "outage",
        "severity": "info",
        "title_en": "T",
        "title_de": "T",
        "body_en": "B",
        "body_de": "B",
        "scope": None,
        "starts_at": now,
        "ends_at": now + timedelta(hours=1),
    }
    for user in (world.paula, world.carl, world.eve):
        with pytest.raises(PermissionDenied):
            notice_create(actor=Actor(user=user), **args)
    # An operator's API key does not act as an operator here.
    key, _raw = apikey_create(actor=Actor(user=world.olga), tenant=world.alpha, name="k")
    with pytest.raises(PermissionDenied):
        notice_create(actor=Actor(user=world.olga, api_key=key), **args)
    assert not Notice.objects.exists()


def test_the_service_validates(world):
    now = timezone.now()
    with pytest.raises(ValidationError) as caught:
        notice_create(
            actor=Actor(user=world.olga),
            kind="party",
            severity="loud",
            title_en=" ",
            title_de="x" * 201,
            body_en="B",
            body_de="B",
            scope=None,
            starts_at=now,
            ends_at=now - timedelta(minutes=1),
        )
    assert set(caught.value.error_dict) == {"kind", "severity", "title_en", "title_de", "ends_at"}
    with pytest.raises(ValidationError) as caught:
        notice_create(
            actor=Actor(user=world.olga),
            kind="outage",
            severity="info",
            title_en="T",
            title_de="T",
            body_en="B",
            body_de="B",
            scope=None,
            starts_at=now - timedelta(hours=2),
            ends_at=now - timedelta(hours=1),
        )
    assert caught.value.error_dict["ends_at"][0].code == "window_past"


# --- the operator pages --------------------------------------------------------------------


def test_the_form_answers_at_once_and_is_audited(world, admins, django_capture_on_commit_callbacks):
    olga = world.client_for(world.olga)
    form = olga.get("/operator/notices/new/")
    assert form.status_code == 200
    now = timezone.localtime()
    # The window is prefilled: from now, for two hours (datetime-local inputs).
    assert f'value="{now:%Y-%m-%d}T' in form.content.decode()
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = olga.post("/operator/notices/new/", form_data())
    assert response.status_code == 302
    assert response["Location"] == "/operator/notices/"
    notice = Notice.objects.get()
    assert (notice.kind, notice.severity, notice.scope) == ("outage", "critical", world.alpha)
    assert notice.created_by == world.olga
    assert notice.fanned_out_at is None
    # No mail is made in the request: the fan-out is a task enqueued after the commit.
    assert not OutboundMessage.objects.exists()
    assert len(callbacks) == 1
    entry = AuditEntry.objects.get(action="notice.create")
    assert (entry.actor_id, entry.tenant_id, entry.object_id) == (
        world.olga.pk,
        world.alpha.pk,
        str(notice.pk),
    )
    page = olga.get("/operator/notices/").content.decode()
    assert "Sending is delayed" in page and "agentur-alpha" in page


@pytest.mark.parametrize(
    ("overrides", "field", "text"),
    [
        ({"scope": "no-such-tenant"}, "scope", "There is no tenant with the slug or id"),
        ({"scope": "99999999999999999999999"}, "scope", "There is no tenant with the slug or id"),
        ({"scope": "-1"}, "scope", "There is no tenant with the slug or id"),
        ({"title_de": ""}, "title_de", "This field is required."),
        ({"kind": "party"}, "kind", "Select a valid choice."),
        ({"ends_at": "2000-01-01T00:00"}, "ends_at", "must lie after its start"),
        ({"starts_at": "gestern"}, "starts_at", "Enter a valid date/time."),
    ],
)
def test_bad_input_is_a_422_with_a_clear_message(world, overrides, field, text):
    response = world.client_for(world.olga).post("/operator/notices/new/", form_data(**overrides))
    assert response.status_code == 422
    content = response.content.decode()
    assert f'id="field-{field}"' in content
    assert text in content
    assert not Notice.objects.exists()


def test_an_unknown_tenant_and_a_bad_window_are_named_in_one_round(world):
    data = form_data(scope="no-such-tenant", ends_at="2000-01-01T00:00")
    response = world.client_for(world.olga).post("/operator/notices/new/", data)
    assert response.status_code == 422
    content = response.content.decode()
    assert "There is no tenant with the slug or id" in content
    assert "must lie after its start" in content
    assert not Notice.objects.exists()


def test_scope_by_id_and_for_all_tenants(world):
    olga = world.client_for(world.olga)
    assert (
        olga.post("/operator/notices/new/", form_data(scope=str(world.kunde1.pk))).status_code
        == 302
    )
    assert olga.post("/operator/notices/new/", form_data(scope="")).status_code == 302
    assert [n.scope for n in Notice.objects.order_by("pk")] == [world.kunde1, None]


def test_operator_notice_pages_are_404_for_everybody_else(world):
    for user in (world.paula, world.carl, world.eve):
        client = world.client_for(user)
        assert client.get("/operator/notices/").status_code == 404
        assert client.get("/operator/notices/new/").status_code == 404
        assert client.post("/operator/notices/new/", form_data()).status_code == 404
    assert not Notice.objects.exists()
    response = Client().get("/operator/notices/")
    assert response.status_code == 302 and response["Location"].startswith("/login/")


# --- the fan-out ---------------------------------------------------------------------------


def test_recipients_are_the_verified_active_administrators_once_each(world, admins):
    notice = make_notice(world, scope=world.alpha)
    recipients = notice_recipients(notice)
    assert {r.email: r.language for r in recipients} == admins.expected_alpha
    assert len(recipients) == len(admins.expected_alpha)  # anna twice an admin: once
    everybody = make_notice(world, scope=None)
    assert {r.email for r in notice_recipients(everybody)} == set(admins.expected_all)
    filiale = make_notice(world, scope=world.filiale)
    assert {r.email for r in notice_recipients(filiale)} == {
        "anna@kunde-eins.example",
        "ben@filiale.example",
    }


def test_an_outage_reaches_exactly_the_administrators_of_the_subtree(
    world, admins, smtp, settings, django_capture_on_commit_callbacks
):
    settings.TASKS = IMMEDIATE
    olga = world.client_for(world.olga)
    with django_capture_on_commit_callbacks(execute=True):
        response = olga.post("/operator/notices/new/", form_data())
    assert response.status_code == 302
    notice = Notice.objects.get()
    received = {r.rcpt_tos[0]: r.message for r in smtp.handler.received}
    assert len(smtp.handler.received) == len(admins.expected_alpha)  # once each
    assert set(received) == set(admins.expected_alpha)
    for address, language in admins.expected_alpha.items():
        mail = received[address]
        text, html = mail.get_payload()  # type: ignore[misc]
        if language == "de":
            assert "Der Versand verzögert sich" in mail["Subject"]
            assert "Unser Mail-Relay ist ausgefallen." in text.get_content()
            assert "Unser Mail-Relay ist ausgefallen.<br>Wir sind dran." in html.get_content()
            assert "Sending is delayed" not in mail["Subject"]
        else:
            assert "Sending is delayed" in mail["Subject"]
            assert "Our mail relay is down." in text.get_content()
        assert mail["Auto-Submitted"] == "auto-generated"
    notice.refresh_from_db()
    assert notice.recipients_total == 4 and notice.fanned_out_at is not None
    assert set(OutboundMessage.objects.values_list("status", flat=True)) == {MessageStatus.SENT}
    assert OutboundMessage.objects.filter(notice=notice, kind="notice").count() == 4
    # One connection for the batch of four.
    assert smtp.handler.connections == 1
    # The operator's list shows the delivery counts.
    row = notice_list()[0]
    assert (row.messages_total, row.messages_done, row.messages_failed, row.messages_pending) == (
        4,
        4,
        0,
        0,
    )
    # A second run of the fan-out changes nothing.
    from mandant.notices.services import notice_fan_out

    assert notice_fan_out(notice_id=notice.pk) == 0
    assert OutboundMessage.objects.count() == 4


def test_delivery_counts_with_a_refusal(
    world, admins, smtp, settings, django_capture_on_commit_callbacks
):
    settings.TASKS = IMMEDIATE
    smtp.handler.refuse.add("ben@filiale.example")
    smtp.handler.defer.add("alice@alpha.example")
    with django_capture_on_commit_callbacks(execute=True):
        world.client_for(world.olga).post("/operator/notices/new/", form_data())
    row = notice_list()[0]
    assert (row.messages_total, row.messages_done, row.messages_failed, row.messages_pending) == (
        4,
        2,
        1,
        1,
    )
    page = world.client_for(world.olga).get("/operator/notices/").content.decode()
    assert '<td class="count-failed">1</td>' in page
    assert '<td class="count-pending">1</td>' in page
    assert User.objects.get(email="ben@filiale.example").email_undeliverable_at is not None


@pytest.mark.django_db(transaction=True)
def test_the_db_worker_delivers_a_notice(world, admins, smtp, settings):
    """The real ``db_worker`` command (``--batch``) against the database: it runs the fan-out
    task, which enqueues the delivery batches, and then the batches."""
    from django_tasks_db.models import DBTaskResult

    settings.TASKS = DATABASE
    settings.MAIL_BATCH_SIZE = 3  # 4 recipients: two batches, two connections
    response = world.client_for(world.olga).post("/operator/notices/new/", form_data())
    assert response.status_code == 302
    assert DBTaskResult.objects.get().task_path == "mandant.notices.tasks.notice_fan_out"
    assert not OutboundMessage.objects.exists()
    run_worker_once()
    paths = sorted(DBTaskResult.objects.values_list("task_path", "status"))
    assert paths == [
        ("mandant.notices.tasks.deliver_messages", "SUCCESSFUL"),
        ("mandant.notices.tasks.deliver_messages", "SUCCESSFUL"),
        ("mandant.notices.tasks.notice_fan_out", "SUCCESSFUL"),
    ]
    assert sorted(r.rcpt_tos[0] for r in smtp.handler.received) == sorted(admins.expected_alpha)
    assert smtp.handler.connections == 2
    assert set(OutboundMessage.objects.values_list("status", flat=True)) == {MessageStatus.SENT}


# --- the banner ----------------------------------------------------------------------------


def _banner(client: Client, slug: str) -> str:
    page = client.get(f"/t/{slug}/").content.decode()
    start = page.find('<div class="notice-banner')
    return "" if start < 0 else page[start : start + 800]


def test_the_banner_shows_in_the_affected_tenants_during_the_window(world):
    make_notice(
        world,
        scope=world.alpha,
        severity="critical",
        kind="outage",
        title_en="Sending is delayed",
        title_de="Der Versand verzögert sich",
    )
    paula, eve = world.client_for(world.paula), world.client_for(world.eve)
    for slug in ("agentur-alpha", "kunde-eins", "filiale-eins-a", "kunde-zwei"):
        banner = _banner(paula, slug)
        assert "Sending is delayed" in banner, slug
        assert 'data-severity="critical"' in banner and "notice-critical" in banner
    # In the user's language.
    world.carl.language = "de"
    world.carl.save()
    assert "Der Versand verzögert sich" in _banner(world.client_for(world.carl), "kunde-eins")
    # Not in other partners' tenants; operators see it where it applies.
    assert _banner(eve, "fremdagentur") == ""
    olga = world.client_for(world.olga)
    assert _banner(olga, "fremdagentur") == ""
    assert "Sending is delayed" in _banner(olga, "kunde-eins")
    # A scope below the tenant does not show above it.
    make_notice(world, scope=world.filiale, title_en="Only the Filiale")
    assert "Only the Filiale" not in paula.get("/t/kunde-eins/").content.decode()
    assert "Only the Filiale" in paula.get("/t/filiale-eins-a/").content.decode()


def test_the_banner_only_during_the_window(world):
    make_notice(world, scope=None, starts=10, ends=70, title_en="Future")
    make_notice(world, scope=None, starts=-70, ends=-10, title_en="Past")
    make_notice(world, scope=None, starts=-1, ends=1, title_en="Now for everybody")
    page = world.client_for(world.eve).get("/t/fremdagentur/").content.decode()
    assert "Now for everybody" in page
    assert "Future" not in page and "Past" not in page
    assert [n.title_en for n in active_notices(world.fremd)] == ["Now for everybody"]


def test_active_notices_is_one_query(world, django_assert_num_queries):
    make_notice(world, scope=world.alpha)
    make_notice(world, scope=None)
    make_notice(world, scope=world.fremd)
    with django_assert_num_queries(1):
        notices = active_notices(world.filiale)
    assert len(notices) == 2


def test_the_fan_out_resumes_without_duplicates(world, admins, settings, monkeypatch):
    """A fan-out that stopped half-way (a crashed worker) is run again: only the missing
    mails are made, in chunks, each chunk enqueueing its own delivery."""
    from mandant.notices import services

    settings.TASKS = DATABASE
    monkeypatch.setattr(services, "FAN_OUT_CHUNK", 3)
    notice = make_notice(world, scope=world.alpha)
    assert services.notice_fan_out(notice_id=notice.pk) == 4
    first = dict(OutboundMessage.objects.values_list("to_email", "pk"))
    OutboundMessage.objects.filter(to_email="ben@filiale.example").delete()
    Notice.objects.filter(pk=notice.pk).update(fanned_out_at=None)
    assert services.notice_fan_out(notice_id=notice.pk) == 1
    again = dict(OutboundMessage.objects.values_list("to_email", "pk"))
    assert set(again) == set(admins.expected_alpha)
    assert all(again[e] == first[e] for e in again if e != "ben@filiale.example")
    notice.refresh_from_db()
    assert notice.recipients_total == 4 and notice.fanned_out_at is not None
    assert AuditEntry.objects.filter(action="notice.fan_out").count() == 2


def test_every_kind_of_mail_has_a_name_in_the_outbox():
    import re
    from pathlib import Path

    import mandant
    from mandant.billing.emails import CONDITIONS_KIND, UPGRADE_NOTICE_KIND
    from mandant.contacts.services import CONFIRM_MAIL_KIND
    from mandant.invoicing.documents import INVOICE_MAIL_KIND
    from mandant.notices.models import MAIL_KIND_LABELS, OutboundMessage
    from mandant.notices.services import NOTICE_KIND

    root = Path(mandant.__file__).parent
    written = {
        kind
        for path in (root / "accounts").glob("*.py")
        for kind in re.findall(r'mail_queue\(\s*kind="([a-z_.]+)"', path.read_text())
    }
    assert written >= {"user.invitation", "password_reset", "email_verify"}
    constants = {CONDITIONS_KIND, UPGRADE_NOTICE_KIND, CONFIRM_MAIL_KIND, INVOICE_MAIL_KIND}
    assert written | constants | {NOTICE_KIND} <= set(MAIL_KIND_LABELS)
    assert OutboundMessage(kind="user.invitation").kind_label == "Invitation"
    assert OutboundMessage(kind="something.new").kind_label == "something.new"
