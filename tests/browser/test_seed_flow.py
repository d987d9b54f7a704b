"""The seed story in a real browser: paula creates a tenant for a customer and logs into it.

Setup → Upgrades → Tenant management (*Mandantenverwaltung*) → Create new tenant → Login
opens the new tenant in its own tab, branded with its logo (or its name), where paula acts
with the role inherited from Agentur Alpha.
"""

import re
from pathlib import Path

import pytest
from PIL import Image, ImageDraw
from playwright.sync_api import Locator, Page, expect
from tests.conftest import PASSWORD

from mandant.tenants.models import Tenant

pytestmark = pytest.mark.browser

MANAGEMENT_PATH = "/t/{slug}/setup/upgrades/tenants/"
ACTIVE = re.compile(r"(^|\s)active(\s|$)")


# --- helpers ----------------------------------------------------------------------------------


def make_logo(path: Path, size: tuple[int, int] = (120, 40)) -> Path:
    """A small, clearly visible PNG logo: a blue plate with a white bar and an orange dot."""
    image = Image.new("RGB", size, (31, 94, 255))
    draw = ImageDraw.Draw(image)
    width, height = size
    draw.rectangle((10, height // 2 - 4, width - 40, height // 2 + 4), fill=(255, 255, 255))
    draw.ellipse((width - 32, height // 2 - 10, width - 12, height // 2 + 10), fill=(255, 140, 0))
    image.save(path, format="PNG")
    return path


def log_in(page: Page, email: str, password: str) -> None:
    """Through the real login form, like a person would."""
    page.goto("/login/")
    page.get_by_label("E-mail address").fill(email)
    page.get_by_label("Password", exact=True).fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_load_state()


def create_form(page: Page) -> Locator:
    return page.get_by_test_id("tenant-create-form")


def field(form: Locator, label: str) -> Locator:
    return form.get_by_label(label, exact=True)


def expect_image_loaded(page: Page, image: Locator) -> None:
    """The <img> is in the page *and* the browser decoded real pixels for it."""
    expect(image).to_be_visible()
    page.wait_for_function(
        "img => img.complete && img.naturalWidth > 0", arg=image.element_handle()
    )
    assert image.evaluate("img => img.naturalWidth") > 0


def expect_top_left(page: Page, element: Locator) -> None:
    box = element.bounding_box()
    assert box is not None
    viewport = page.viewport_size
    assert viewport is not None
    assert box["x"] < viewport["width"] / 4, box
    assert box["y"] < 100, box


# --- the seed flow ----------------------------------------------------------------------------


def test_paula_creates_a_tenant_with_logo_and_logs_into_it(
    world, context, page, live_server, tmp_path, shots_dir
):
    logo = make_logo(tmp_path / "kunde-drei.png")

    # Log in: she lands in her own tenant.
    log_in(page, world.paula.email, PASSWORD)
    expect(page).to_have_url(f"{live_server.url}/t/agentur-alpha/")
    expect(page.get_by_test_id("tenant-name")).to_have_text("Agentur Alpha")

    # Setup, top right; Users is open by default.
    setup_link = page.get_by_test_id("setup-link")
    expect(setup_link).to_have_text("Setup")
    box = setup_link.bounding_box()
    assert box is not None and box["x"] > 1280 / 2 and box["y"] < 64, box
    setup_link.click()
    expect(page).to_have_url(f"{live_server.url}/t/agentur-alpha/setup/users/")
    menu = page.get_by_role("navigation", name="Setup")
    expect(menu.get_by_role("link", name="Users")).to_have_class(ACTIVE)
    expect(menu.get_by_role("link", name="Users")).to_have_attribute("aria-current", "page")
    expect(menu.get_by_role("link", name="Upgrades")).not_to_have_class(ACTIVE)

    # Upgrades → the tab Tenant management with the creation form.
    menu.get_by_role("link", name="Upgrades").click()
    expect(page).to_have_url(f"{live_server.url}/t/agentur-alpha/setup/upgrades/")
    expect(menu.get_by_role("link", name="Upgrades")).to_have_class(ACTIVE)
    tab = page.get_by_role("tab", name="Tenant management")
    tab.click()
    expect(page).to_have_url(live_server.url + MANAGEMENT_PATH.format(slug="agentur-alpha"))
    expect(menu.get_by_role("link", name="Upgrades")).to_have_class(ACTIVE)
    expect(tab).to_have_attribute("aria-selected", "true")
    form = create_form(page)
    expect(form).to_be_visible()

    field(form, "Name").fill("Kunde Drei")
    field(form, "Type").select_option("STANDARD")
    field(form, "Version").select_option("BASIC")
    master = field(form, "Master tenant")
    expect(master).to_have_value(str(world.alpha.pk))  # her own tenant by default
    assert master.evaluate("s => s.selectedOptions[0].textContent.trim()") == "Agentur Alpha"

    # STANDARD pins the charset to UTF-8; CUSTOM frees it; back to STANDARD pins it again.
    charset = field(form, "Charset")
    expect(charset).to_have_value("UTF-8")
    expect(charset).to_be_disabled()
    expect(form.get_by_text("Fixed to UTF-8 for STANDARD tenants.")).to_be_visible()
    field(form, "Type").select_option("CUSTOM")
    expect(charset).to_be_enabled()
    expect(form.get_by_text("Fixed to UTF-8 for STANDARD tenants.")).to_be_hidden()
    charset.select_option("ISO-8859-15")
    field(form, "Type").select_option("STANDARD")
    expect(charset).to_be_disabled()
    expect(charset).to_have_value("UTF-8")

    field(form, "Logo").set_input_files(logo)
    page.screenshot(path=str(shots_dir / "tenant-management-en.png"), full_page=True)

    form.get_by_role("button", name="Create new tenant").click()

    # The success page offers another round or the login into the new tenant.
    created = page.get_by_test_id("tenant-created")
    expect(created).to_be_visible()
    expect(created.get_by_role("heading")).to_have_text("Tenant “Kunde Drei” has been created")
    expect(created.get_by_role("link", name="Create another tenant")).to_be_visible()
    login_link = created.get_by_role("link", name="Login", exact=True)
    expect(login_link).to_be_visible()

    new = Tenant.objects.get(name="Kunde Drei")
    assert new.slug == "kunde-drei"
    assert new.parent_id == world.alpha.pk
    assert (new.type, new.version, new.charset) == ("STANDARD", "BASIC", "UTF-8")
    assert new.has_logo and (new.logo_width, new.logo_height) == (120, 40)

    # Login opens the new tenant in a new tab.
    with context.expect_page() as new_page_info:
        login_link.click()
    tenant_tab = new_page_info.value
    tenant_tab.wait_for_load_state()
    expect(tenant_tab).to_have_url(f"{live_server.url}/t/{new.slug}/")
    assert len(context.pages) == 2
    expect(page).to_have_url(re.compile(r"/setup/upgrades/tenants/created/kunde-drei/$"))

    tenant_logo = tenant_tab.get_by_test_id("tenant-logo")
    expect_image_loaded(tenant_tab, tenant_logo)
    expect_top_left(tenant_tab, tenant_logo)
    expect(tenant_tab.get_by_test_id("tenant-name")).to_have_count(0)
    banner = tenant_tab.get_by_test_id("acting-banner")
    expect(banner).to_contain_text(
        "You are acting in Kunde Drei as Customer Service, inherited from Agentur Alpha."
    )
    tenant_tab.screenshot(path=str(shots_dir / "new-tenant-en.png"), full_page=True)

    # Deutsch, please: the DE button in the top bar.
    tenant_tab.get_by_role("button", name="DE", exact=True).click()
    expect(tenant_tab.locator("html")).to_have_attribute("lang", "de")
    expect(tenant_tab).to_have_url(f"{live_server.url}/t/{new.slug}/")
    expect_image_loaded(tenant_tab, tenant_tab.get_by_test_id("tenant-logo"))

    tenant_tab.get_by_test_id("setup-link").click()
    expect(tenant_tab).to_have_url(f"{live_server.url}/t/{new.slug}/setup/users/")
    menu_de = tenant_tab.locator("nav.sidemenu")
    menu_de.get_by_role("link", name="Upgrades", exact=True).click()
    tenant_tab.get_by_role("tab", name="Mandantenverwaltung").click()
    expect(tenant_tab).to_have_url(live_server.url + MANAGEMENT_PATH.format(slug=new.slug))
    # Taken before the German assertions, so it exists even while translations are missing.
    tenant_tab.screenshot(path=str(shots_dir / "mandantenverwaltung-de.png"), full_page=True)
    expect(tenant_tab.get_by_role("tab", name="Mandantenverwaltung")).to_have_attribute(
        "aria-selected", "true"
    )
    form_de = create_form(tenant_tab)
    expect(form_de.get_by_role("button", name="Neuen Mandanten erzeugen")).to_be_visible()
    expect(field(form_de, "Zeichensatz")).to_be_disabled()
    expect(field(form_de, "Master-Mandant")).to_have_value(str(new.pk))
    benutzer = menu_de.get_by_role("link", name="Benutzer", exact=True)
    benutzer.click()
    expect(benutzer).to_have_class(ACTIVE)
    expect(benutzer).to_have_attribute("aria-current", "page")

    # Her language is stored: the first tab speaks German after a reload, too.
    page.reload()
    expect(page.locator("html")).to_have_attribute("lang", "de")


def test_a_form_error_keeps_the_input_and_the_uploaded_logo(world, page, live_server, tmp_path):
    logo = make_logo(tmp_path / "logo.png")
    log_in(page, world.paula.email, PASSWORD)
    page.goto(MANAGEMENT_PATH.format(slug="agentur-alpha"))
    form = create_form(page)

    # Everything but the name is valid, and deliberately not the defaults.
    field(form, "Name").fill("kunde eins")  # taken, in another case
    field(form, "Type").select_option("CUSTOM")
    field(form, "Version").select_option("ENTERPRISE")
    field(form, "Master tenant").select_option(str(world.kunde1.pk))
    field(form, "Charset").select_option("ISO-8859-15")
    field(form, "Logo").set_input_files(logo)
    with page.expect_response(lambda r: r.request.method == "POST") as response_info:
        form.get_by_role("button", name="Create new tenant").click()
    assert response_info.value.status == 422

    form = create_form(page)
    name_errors = page.locator("#field-name .errors")
    expect(name_errors).to_contain_text(
        "A tenant with this name already exists. Names are unique on the platform, "
        "regardless of case."
    )
    expect(field(form, "Name")).to_have_value("kunde eins")
    expect(field(form, "Type")).to_have_value("CUSTOM")
    expect(field(form, "Version")).to_have_value("ENTERPRISE")
    expect(field(form, "Master tenant")).to_have_value(str(world.kunde1.pk))
    expect(field(form, "Charset")).to_have_value("ISO-8859-15")
    expect(field(form, "Charset")).to_be_enabled()
    for other in ("type", "version", "master", "charset", "logo"):
        expect(page.locator(f"#field-{other} .errors")).to_have_count(0)

    # The uploaded logo is kept and shown, although the file input is empty again.
    kept = page.locator("#field-logo .kept-logo")
    expect(kept).to_contain_text("Your uploaded logo is kept:")
    expect_image_loaded(page, kept.locator("img"))
    assert kept.locator("img").evaluate("img => img.naturalWidth") == 120
    expect(form.locator("input[name=logo_kept]")).not_to_have_value("")
    assert field(form, "Logo").evaluate("input => input.files.length") == 0
    assert not Tenant.objects.filter(name="Kunde Drei").exists()

    # A new name, no new upload: the tenant is created with the kept logo.
    field(form, "Name").fill("Kunde Drei")
    form.get_by_role("button", name="Create new tenant").click()
    expect(page.get_by_test_id("tenant-created")).to_contain_text(
        "Tenant “Kunde Drei” has been created"
    )
    new = Tenant.objects.get(name="Kunde Drei")
    assert new.parent_id == world.kunde1.pk
    assert (new.type, new.version, new.charset) == ("CUSTOM", "ENTERPRISE", "ISO-8859-15")
    assert new.has_logo and (new.logo_width, new.logo_height) == (120, 40)

    page.goto(f"/t/{new.slug}/")
    expect_image_loaded(page, page.get_by_test_id("tenant-logo"))


def test_without_a_logo_the_new_tenant_shows_its_name_top_left(world, context, page, live_server):
    log_in(page, world.paula.email, PASSWORD)
    page.goto(MANAGEMENT_PATH.format(slug="agentur-alpha"))
    form = create_form(page)
    field(form, "Name").fill("Kunde Vier")
    form.get_by_role("button", name="Create new tenant").click()
    created = page.get_by_test_id("tenant-created")
    expect(created).to_contain_text("Tenant “Kunde Vier” has been created")

    with context.expect_page() as new_page_info:
        created.get_by_role("link", name="Login", exact=True).click()
    tenant_tab = new_page_info.value
    tenant_tab.wait_for_load_state()
    expect(tenant_tab).to_have_url(f"{live_server.url}/t/kunde-vier/")
    name = tenant_tab.get_by_test_id("tenant-name")
    expect(name).to_have_text("Kunde Vier")
    expect_top_left(tenant_tab, name)
    expect(tenant_tab.get_by_test_id("tenant-logo")).to_have_count(0)
    expect(tenant_tab.get_by_test_id("acting-banner")).to_contain_text(
        "as Customer Service, inherited from Agentur Alpha."
    )
