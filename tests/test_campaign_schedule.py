"""Scheduling a campaign on its page: the time in the current time zone, a past or malformed
time as a field error, unschedule and send now; the real task worker sends it at its time and
never for a time that was taken back."""

import time
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.conf import settings as django_settings
from django.utils import timezone
from django_scopes import scope, scopes_disabled
from django_tasks_db.models import DBTaskResult

from campaign_support import ready_campaign, ready_tenant
from mandant.accounts.roles import Role
from mandant.accounts.services import membership_set
from mandant.audit.models import AuditEntry
from mandant.campaigns import services
from mandant.campaigns.models import Campaign, CampaignStatus, Delivery
from mandant.core.actor import Actor
from user_support import Api
from worker import DATABASE_TASKS, IMMEDIATE_TASKS, run_worker_once

FORMAT = "%Y-%m-%dT%H:%M:%S"


@pytest.fixture
def ready(world, monkeypatch):  # type: ignore[no-untyped-def]
    return ready_tenant(world, monkeypatch)


def fresh(campaign: Campaign) -> Campaign:
    with scopes_disabled():
        return Campaign.objects.get(pk=campaign.pk)


def local(at: datetime) -> str:
    """The value a datetime-local field posts: wall-clock time in the project's time zone."""
    return at.astimezone(ZoneInfo(django_settings.TIME_ZONE)).strftime(FORMAT)


def url(ready, campaign, action: str = "") -> str:  # type: ignore[no-untyped-def]
    return f"/t/{ready.tenant.slug}/campaigns/{campaign.pk}/" + (f"{action}/" if action else "")


def wait_until(at: datetime) -> None:
    while timezone.now() <= at:
        time.sleep(0.05)


def test_the_form_schedules_in_the_time_zone_and_the_page_says_when(world, ready, settings):
    settings.TASKS = DATABASE_TASKS
    campaign = ready_campaign(ready)
    client = world.client_for(ready.admin)
    page = client.get(url(ready, campaign)).content.decode()
    assert 'data-testid="schedule-form"' in page and 'type="datetime-local"' in page
    assert f"Time zone: {django_settings.TIME_ZONE}" in page

    # In a month, at 10:30:15 wall-clock time of the project's zone (Europe/Berlin).
    zone = ZoneInfo(django_settings.TIME_ZONE)
    day = (timezone.now() + timedelta(days=30)).astimezone(zone).date()
    wall = datetime(day.year, day.month, day.day, 10, 30, 15)
    response = client.post(url(ready, campaign, "schedule"), {"at": wall.strftime(FORMAT)})
    assert response.status_code == 302, response.content.decode()
    campaign = fresh(campaign)
    assert campaign.status == CampaignStatus.SCHEDULED
    expected = wall.replace(tzinfo=zone)
    assert campaign.send_at == expected
    assert campaign.send_at.astimezone(UTC).hour != 10  # Berlin is UTC+1 or +2: really converted
    # The task that starts it is due at that moment, not before.
    with scopes_disabled():
        task = DBTaskResult.objects.get(task_path__endswith="start_scheduled_campaign")
    assert task.run_after == expected
    assert task.args_kwargs["args"][0] == campaign.pk

    page = client.get(url(ready, campaign)).content.decode()
    # The message after the redirect, in the project's time zone.
    assert f"10:30 a.m. ({django_settings.TIME_ZONE})." in page.split("will go out on", 1)[1]
    assert 'data-testid="campaign-scheduled"' in page
    assert 'data-testid="campaign-statistics"' not in page  # nothing sent yet
    assert f"({django_settings.TIME_ZONE})" in page
    assert f"10:30 a.m. ({django_settings.TIME_ZONE})." in page.split("Scheduled for", 1)[1]
    assert 'data-testid="campaign-unschedule"' in page
    assert 'data-testid="campaign-send"' in page  # … or send it now
    with scopes_disabled():
        entry = AuditEntry.objects.filter(action="campaign.send").latest("pk")
    assert entry.changes["status"] == ["draft", "scheduled"]


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("past", "Choose a time in the future."),
        ("31.12.2099 10:00", "Enter a valid date/time."),
        ("", "This field is required."),
    ],
)
def test_a_past_or_bad_time_is_a_field_error_and_keeps_the_input(
    world, ready, settings, value, message
):
    settings.TASKS = DATABASE_TASKS
    campaign = ready_campaign(ready)
    if value == "past":
        value = local(timezone.now() - timedelta(minutes=5))
    client = world.client_for(ready.admin)
    response = client.post(url(ready, campaign, "schedule"), {"at": value})
    assert response.status_code == 422
    page = response.content.decode()
    form = page.split('data-testid="schedule-form"', 1)[1].split("</form>", 1)[0]
    assert message in form
    assert "has-error" in form
    assert f'value="{value}"' in form or not value
    assert fresh(campaign).status == CampaignStatus.DRAFT
    with scopes_disabled():
        assert not DBTaskResult.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_the_worker_sends_a_scheduled_campaign_at_its_time(world, monkeypatch, smtp, settings):
    settings.TASKS = DATABASE_TASKS
    ready = ready_tenant(world, monkeypatch)
    campaign = ready_campaign(ready)
    at = (timezone.now() + timedelta(seconds=2)).replace(microsecond=0) + timedelta(seconds=1)
    client = world.client_for(ready.admin)
    response = client.post(url(ready, campaign, "schedule"), {"at": local(at)})
    assert response.status_code == 302
    assert fresh(campaign).send_at == at

    run_worker_once()  # before the time: nothing to do
    assert fresh(campaign).status == CampaignStatus.SCHEDULED
    assert smtp.handler.received == []

    wait_until(at)
    run_worker_once()
    campaign = fresh(campaign)
    assert campaign.status == CampaignStatus.SENT
    recipients = sorted(r for m in smtp.handler.received for r in m.rcpt_tos)
    assert recipients == [ready.anna.email, ready.bert.email]
    with scopes_disabled():
        assert all(d.sent_at >= at for d in Delivery.objects.filter(campaign=campaign))


@pytest.mark.django_db(transaction=True)
def test_an_unscheduled_or_moved_campaign_is_not_sent_at_the_old_time(
    world, monkeypatch, smtp, settings
):
    settings.TASKS = DATABASE_TASKS
    ready = ready_tenant(world, monkeypatch)
    client = world.client_for(ready.admin)
    at = (timezone.now() + timedelta(seconds=2)).replace(microsecond=0)

    # One campaign is unscheduled: a draft again, editable, without a time.
    first = ready_campaign(ready)
    assert client.post(url(ready, first, "schedule"), {"at": local(at)}).status_code == 302
    response = client.post(url(ready, first, "unschedule"), follow=True)
    assert "no longer scheduled" in response.content.decode()
    first = fresh(first)
    assert (first.status, first.send_at) == (CampaignStatus.DRAFT, None)
    assert 'data-testid="campaign-save"' in response.content.decode()
    with scopes_disabled():
        entry = AuditEntry.objects.get(action="campaign.unschedule")
    assert entry.changes["status"] == ["scheduled", "draft"]

    # The other is moved to a later time.
    second = ready_campaign(ready, name="Später")
    later = at + timedelta(hours=1)
    assert client.post(url(ready, second, "schedule"), {"at": local(at)}).status_code == 302
    assert client.post(url(ready, second, "schedule"), {"at": local(later)}).status_code == 302

    wait_until(at)
    run_worker_once()  # both old tasks come due and find nothing to do
    assert smtp.handler.received == []
    assert fresh(first).status == CampaignStatus.DRAFT
    second = fresh(second)
    assert (second.status, second.send_at) == (CampaignStatus.SCHEDULED, later)
    with scopes_disabled():
        assert not Delivery.objects.exists()
        # The later time's task still waits.
        assert DBTaskResult.objects.filter(status="READY", run_after=later).count() == 1


@pytest.mark.django_db(transaction=True)
def test_send_now_instead_of_at_the_scheduled_time(world, monkeypatch, smtp, settings):
    settings.TASKS = DATABASE_TASKS
    ready = ready_tenant(world, monkeypatch)
    campaign = ready_campaign(ready)
    client = world.client_for(ready.admin)
    at = timezone.now().replace(microsecond=0) + timedelta(hours=2)
    assert client.post(url(ready, campaign, "schedule"), {"at": local(at)}).status_code == 302
    response = client.post(url(ready, campaign, "send"), follow=True)
    assert "The campaign is being sent." in response.content.decode()
    run_worker_once()
    assert fresh(campaign).status == CampaignStatus.SENT
    assert len(smtp.handler.received) == 2
    # When the old time comes, its task starts nothing.
    assert not services.campaign_start_scheduled(campaign_id=campaign.pk, send_at=at)
    # A campaign being sent cannot be unscheduled any more.
    response = client.post(url(ready, campaign, "unschedule"), follow=True)
    assert "This is not possible while the campaign is sent." in response.content.decode()
    assert len(smtp.handler.received) == 2


def test_unschedule_loses_the_race_against_the_worker_cleanly(world, ready, settings):
    settings.TASKS = DATABASE_TASKS
    campaign = ready_campaign(ready)
    at = timezone.now() + timedelta(hours=1)
    with scope(tenant=ready.tenant.pk):
        campaign = services.campaign_send(
            actor=ready.actor, tenant=ready.tenant, campaign=campaign, at=at
        )
    # The worker starts it between the page load and the click.
    assert services.campaign_start_scheduled(campaign_id=campaign.pk, send_at=at)
    with scope(tenant=ready.tenant.pk), pytest.raises(services.ValidationError) as info:
        services.campaign_unschedule(actor=ready.actor, tenant=ready.tenant, campaign=campaign)
    assert info.value.code == "wrong_status"
    assert fresh(campaign).status == CampaignStatus.SENDING


def test_a_viewer_may_not_schedule_and_the_api_refuses_a_past_time(world, ready, settings):
    settings.TASKS = DATABASE_TASKS
    campaign = ready_campaign(ready)
    membership_set(
        actor=Actor(user=world.olga), tenant=ready.tenant, user=world.eve, role=Role.VIEWER
    )
    viewer = world.client_for(world.eve)
    at = local(timezone.now() + timedelta(hours=1))
    assert viewer.post(url(ready, campaign, "schedule"), {"at": at}).status_code == 403
    assert viewer.post(url(ready, campaign, "unschedule")).status_code == 403
    assert 'data-testid="schedule-form"' not in viewer.get(url(ready, campaign)).content.decode()

    api = Api(world.api_key(ready.admin, ready.tenant))
    past = (timezone.now() - timedelta(minutes=1)).isoformat()
    response = api.post(f"/tenants/{ready.tenant.pk}/campaigns/{campaign.pk}/send", {"at": past})
    assert response.status_code == 422, response.content
    assert response.json()["errors"]["at"] == ["Choose a time in the future."]
    assert fresh(campaign).status == CampaignStatus.DRAFT


def test_scheduling_needs_a_deferring_task_backend(world, ready, settings):
    settings.TASKS = IMMEDIATE_TASKS
    campaign = ready_campaign(ready)
    client = world.client_for(ready.admin)
    at = local(timezone.now() + timedelta(hours=1))
    response = client.post(url(ready, campaign, "schedule"), {"at": at})
    assert response.status_code == 422
    assert "Scheduling needs the task worker." in response.content.decode()
    assert fresh(campaign).status == CampaignStatus.DRAFT


@pytest.mark.django_db(transaction=True)
def test_a_scheduled_campaign_is_not_paused_and_a_paused_one_keeps_its_time(
    world, ready, settings, smtp
):
    settings.TASKS = DATABASE_TASKS
    client = world.client_for(ready.admin)
    at = (timezone.now() + timedelta(days=30)).replace(microsecond=0)
    campaign = ready_campaign(ready)
    assert client.post(url(ready, campaign, "schedule"), {"at": local(at)}).status_code == 302
    page = client.get(url(ready, campaign)).content.decode()
    assert 'data-testid="campaign-pause"' not in page  # unschedule or cancel instead
    refused = client.post(url(ready, campaign, "pause"), follow=True).content.decode()
    assert 'class="msg msg-error"' in refused
    assert fresh(campaign).status == CampaignStatus.SCHEDULED
    # A campaign paused while scheduled (older versions allowed it) waits for its time again.
    with scopes_disabled():
        Campaign.objects.filter(pk=campaign.pk).update(status=CampaignStatus.PAUSED)
    assert client.post(url(ready, campaign, "resume")).status_code == 302
    campaign = fresh(campaign)
    assert (campaign.status, campaign.send_at) == (CampaignStatus.SCHEDULED, at)
    run_worker_once()
    assert smtp.handler.received == []
    with scopes_disabled():
        assert not Delivery.objects.exists()
