"""The seed's *Administrator anlegen* in a real browser, by invitation, up to the hand-over.

paula creates a tenant for a customer and its administrator by invitation; the invitee opens
the link from the mail in a browser of their own, sets a password, is signed in and sees the
tenant with its logo; back in paula's browser, the tenant's home shows every hand-over
condition met and paula hands the tenant over.
"""

import re

import pytest
from playwright.sync_api import expect
from tests.browser.test_seed_flow import expect_image_loaded, log_in, make_logo
from tests.conftest import PASSWORD

from mandant.accounts.models import Invitation, User
from mandant.accounts.roles import Role
from mandant.notices.models import OutboundMessage
from mandant.tenants.models import Tenant, TenantStatus

pytestmark = pytest.mark.browser

INVITEE = "anna@kunde-drei.example"
INVITEE_PASSWORD = "Lantern orbit pickle 42 tundra"
INVITATION_LINK = re.compile(r"https?://\S+?(/invitation/[A-Za-z0-9_-]+/)")


def test_paula_creates_an_administrator_by_invitation_and_hands_the_tenant_over(
    world, browser, context, page, live_server, tmp_path, shots_dir
):
    logo = make_logo(tmp_path / "kunde-drei.png")

    # paula creates the tenant (Setup → Upgrades → Tenant management).
    log_in(page, world.paula.email, PASSWORD)
    page.goto("/t/agentur-alpha/setup/upgrades/tenants/")
    form = page.get_by_test_id("tenant-create-form")
    form.get_by_label("Name", exact=True).fill("Kunde Drei")
    form.get_by_label("Logo", exact=True).set_input_files(logo)
    form.get_by_role("button", name="Create new tenant").click()
    created = page.get_by_test_id("tenant-created")
    expect(created).to_contain_text("Tenant “Kunde Drei” has been created")

    # Administrator anlegen, offered right on the success page.
    created.get_by_role("link", name="Create administrator").click()
    expect(page).to_have_url(f"{live_server.url}/t/kunde-drei/setup/users/administrator/")
    form = page.get_by_test_id("create-administrator-form")
    expect(form.get_by_label("Invitation (recommended)")).to_be_checked()
    expect(form.get_by_label("Initial password", exact=True)).to_be_hidden()
    form.get_by_label("E-mail address").fill(INVITEE)
    form.get_by_label("First name").fill("Anna")
    form.get_by_label("Last name").fill("Adler")
    form.get_by_label("Language").select_option("en")
    page.screenshot(path=str(shots_dir / "create-administrator-en.png"), full_page=True)
    form.get_by_role("button", name="Create administrator").click()

    added = page.get_by_test_id("user-added")
    expect(added).to_contain_text("Invitation sent: Anna Adler as Administrator")
    expect(added.get_by_test_id("outcome-invited")).to_contain_text(
        f"We have sent an invitation to {INVITEE}"
    )
    tenant = Tenant.objects.get(slug="kunde-drei")
    anna = User.objects.get(email=INVITEE)
    assert not anna.has_usable_password()

    # The home still lacks the proven administrator: the hand-over is refused.
    page.goto("/t/kunde-drei/")
    checklist = page.get_by_test_id("readiness")
    expect(checklist.locator("[data-condition=administrator]")).to_have_attribute("data-ok", "true")
    expect(checklist.locator("[data-condition=administrator_ready]")).to_have_attribute(
        "data-ok", "false"
    )
    page.once("dialog", lambda dialog: dialog.accept())  # "Hand this tenant over …?"
    with page.expect_response(lambda r: r.request.method == "POST") as refused:
        page.get_by_test_id("handover-button").click()
    assert refused.value.status == 409
    expect(page.locator(".messages")).to_contain_text("cannot be handed over yet")

    # The invitation, read from the recorded mail's text body.
    message = OutboundMessage.objects.get(to_email=INVITEE, kind="user.invitation")
    assert message.language == "en"
    match = INVITATION_LINK.search(message.text_body)
    assert match, message.text_body
    invitation_path = match.group(1)

    # Anna, in a browser of her own.
    anna_context = browser.new_context(
        base_url=live_server.url, locale="en-US", viewport={"width": 1280, "height": 900}
    )
    try:
        anna_page = anna_context.new_page()
        anna_page.goto(invitation_path)
        invitation = anna_page.get_by_test_id("invitation")
        expect(invitation).to_contain_text("Welcome to Kunde Drei")
        expect(invitation).to_contain_text(INVITEE)
        anna_page.get_by_label("New password").fill(INVITEE_PASSWORD)
        anna_page.get_by_label("Repeat the password").fill(INVITEE_PASSWORD)
        anna_page.screenshot(path=str(shots_dir / "invitation-en.png"), full_page=True)
        anna_page.get_by_role("button", name="Set password and sign in").click()

        expect(anna_page).to_have_url(f"{live_server.url}/t/kunde-drei/")
        expect_image_loaded(anna_page, anna_page.get_by_test_id("tenant-logo"))
        expect(anna_page.get_by_test_id("acting-banner")).to_contain_text(
            "You are acting in Kunde Drei as Administrator."
        )
        expect(anna_page.locator(".user-email")).to_have_text(INVITEE)

        # The link is used up.
        anna_page.goto(invitation_path)
        expect(anna_page.get_by_test_id("invitation-invalid")).to_contain_text("already been used")
    finally:
        anna_context.close()
    anna.refresh_from_db()
    assert anna.has_usable_password() and anna.email_verified_at is not None
    assert Invitation.objects.get(user=anna).used_at is not None

    # Back to paula: every condition met, she hands the tenant over.
    page.goto("/t/kunde-drei/")
    for key in ("configured", "administrator", "administrator_ready"):
        expect(checklist.locator(f"[data-condition={key}]")).to_have_attribute("data-ok", "true")
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_test_id("handover-button").click()
    expect(page).to_have_url(f"{live_server.url}/t/kunde-drei/")
    expect(page.get_by_test_id("handed-over")).to_be_visible()
    expect(page.locator(".status")).to_have_text("handed over")
    page.screenshot(path=str(shots_dir / "handed-over-en.png"), full_page=True)
    tenant.refresh_from_db()
    assert tenant.status == TenantStatus.HANDED_OVER

    # In Setup → Users, Anna is an active Administrator; paula is listed as inherited.
    page.goto("/t/kunde-drei/setup/users/")
    row = page.locator(f"[data-testid=user-row][data-email='{INVITEE}']")
    expect(row.get_by_test_id("user-status")).to_have_text("active")
    expect(row.get_by_role("combobox")).to_have_value(str(Role.ADMINISTRATOR.value))
    expect(page.get_by_test_id("inherited-users")).to_contain_text("Agentur Alpha")
    page.screenshot(path=str(shots_dir / "setup-users-en.png"), full_page=True)
