"""Tenant pages under /t/<slug>/ and the operator page, through the Django test client."""

import re
from html.parser import HTMLParser

import pytest
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile

import logo_corpus as corpus
from mandant.audit.models import AuditEntry
from mandant.core.actor import Actor
from mandant.tenants.models import Tenant
from mandant.tenants.services import LogoUpload, tenant_create, tenant_set_logo

MANAGEMENT = "/t/{}/setup/upgrades/tenants/"


class Elements(HTMLParser):
    """The start tags of a page with their attributes, and the text inside <a> tags."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str]]] = []
        self._open_a: dict[str, str] | None = None
        self.feed(html)

    def handle_starttag(self, tag, attrs):  # type: ignore[no-untyped-def]
        attributes = {k: v or "" for k, v in attrs}
        self.tags.append((tag, attributes))
        if tag == "a":
            attributes["_text"] = ""
            self._open_a = attributes

    def handle_endtag(self, tag):  # type: ignore[no-untyped-def]
        if tag == "a":
            self._open_a = None

    def handle_data(self, data):  # type: ignore[no-untyped-def]
        if self._open_a is not None:
            self._open_a["_text"] += data

    def find(self, tag: str, **attrs: str) -> list[dict[str, str]]:
        return [
            a
            for t, a in self.tags
            if t == tag and all(a.get(k.replace("_", "-")) == v for k, v in attrs.items())
        ]

    def one(self, tag: str, **attrs: str) -> dict[str, str]:
        found = self.find(tag, **attrs)
        assert len(found) == 1, (tag, attrs, found)
        return found[0]


def page(response) -> Elements:
    return Elements(response.content.decode())


def listed_slugs(response) -> list[str]:
    """Slugs of the tenants in the tenant list, in order."""
    html = response.content.decode()
    section = html[html.index('data-testid="tenant-list"') :]
    return re.findall(r'<td style="padding-left: \d+em"><a href="/t/([^/]+)/">', section)


def form_data(world, **overrides):
    data = {
        "name": "Neue Firma",
        "type": "STANDARD",
        "version": "BASIC",
        "master": str(world.alpha.pk),
        "charset": "UTF-8",
    }
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


def upload(data: bytes, name: str = "logo.png") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, data, content_type="application/octet-stream")


@pytest.fixture
def paula(world):
    return world.client_for(world.paula)


# --- navigation -----------------------------------------------------------------------------


def test_setup_redirects_to_users(world, paula):
    response = paula.get("/t/agentur-alpha/setup/")
    assert response.status_code == 302
    assert response["Location"] == "/t/agentur-alpha/setup/users/"
    assert paula.get(response["Location"]).status_code == 200


def test_upgrades_shows_the_products_with_a_tenant_management_tab(world, paula):
    response = paula.get("/t/agentur-alpha/setup/upgrades/")
    assert response.status_code == 200
    assert f'href="{MANAGEMENT.format("agentur-alpha")}"' in response.content.decode()


def test_pages_need_a_login(world):
    from django.test import Client

    response = Client().get(MANAGEMENT.format("agentur-alpha"))
    assert response.status_code == 302
    assert response["Location"].startswith("/login/?next=")


def test_tenants_outside_reach_are_not_found(world):
    eve = world.client_for(world.eve)
    for url in (
        "/t/kunde-eins/",
        MANAGEMENT.format("agentur-alpha"),
        "/t/kunde-eins/enter/",
        "/t/no-such-tenant/",
    ):
        assert eve.get(url).status_code == 404, url


# --- the creation form ----------------------------------------------------------------------


def test_management_page_shows_the_form_with_own_tenant_as_default_master(world, paula):
    response = paula.get(MANAGEMENT.format("agentur-alpha"))
    assert response.status_code == 200
    html = page(response)
    html.one("form", data_testid="tenant-create-form")
    for field in ("name", "type", "version", "master", "charset", "logo"):
        assert html.find("input", name=field) or html.find("select", name=field), field
    selected = [o for o in html.find("option") if "selected" in o]
    master_pks = {o["value"] for o in html.find("option")}
    assert {str(t.pk) for t in (world.alpha, world.kunde1, world.filiale, world.kunde2)} <= (
        master_pks
    )
    assert str(world.fremd.pk) not in master_pks and str(world.root.pk) not in master_pks
    assert str(world.alpha.pk) in {o["value"] for o in selected}
    assert "at most 300 × 100 pixels" in response.content.decode()


def test_master_choices_are_limited_to_the_current_subtree(world, paula):
    html = page(paula.get(MANAGEMENT.format("kunde-eins")))
    master_pks = {o["value"] for o in html.find("option")}
    assert {str(world.kunde1.pk), str(world.filiale.pk)} <= master_pks
    assert str(world.alpha.pk) not in master_pks and str(world.kunde2.pk) not in master_pks
    response = paula.post(
        MANAGEMENT.format("kunde-eins"), form_data(world, master=str(world.kunde2.pk))
    )
    assert response.status_code == 422
    assert not Tenant.objects.filter(name="Neue Firma").exists()


def test_valid_post_creates_the_tenant_and_shows_the_created_page(world, paula):
    response = paula.post(
        MANAGEMENT.format("agentur-alpha"),
        form_data(
            world,
            type="CUSTOM",
            charset="Windows-1252",
            version="PROFESSIONAL",
            master=str(world.kunde1.pk),
        ),
    )

    assert response.status_code == 302
    new = Tenant.objects.get(name="Neue Firma")
    assert (new.type, new.version, new.charset, new.parent_id) == (
        "CUSTOM",
        "PROFESSIONAL",
        "Windows-1252",
        world.kunde1.pk,
    )
    assert response["Location"] == "/t/agentur-alpha/setup/upgrades/tenants/created/neue-firma/"

    created = paula.get(response["Location"])
    assert created.status_code == 200
    body = created.content.decode()
    assert "Tenant “Neue Firma” has been created" in body
    login_link = page(created).one("a", data_testid="login-new-tenant")
    assert login_link["href"] == "/t/neue-firma/enter/"
    assert login_link["target"] == "_blank"
    assert "noopener" in login_link["rel"]
    assert login_link["_text"].strip() == "Login"


def test_entering_a_tenant_is_audited_and_leads_to_its_home(world, paula):
    response = paula.get("/t/kunde-eins/enter/")
    assert response.status_code == 302
    assert response["Location"] == "/t/kunde-eins/"
    entry = AuditEntry.objects.get(action="tenant.enter")
    assert entry.actor == world.paula
    assert entry.tenant_id == world.kunde1.pk
    assert entry.acting_role == 200
    assert entry.role_source == world.alpha
    assert paula.get(response["Location"]).status_code == 200


def test_invalid_post_answers_422_and_keeps_the_entered_values(world, paula):
    response = paula.post(
        MANAGEMENT.format("agentur-alpha"),
        form_data(world, name="Kunde Eins", version="ENTERPRISE", master=str(world.kunde1.pk)),
    )
    assert response.status_code == 422
    html = page(response)
    assert html.one("input", name="name")["value"] == "Kunde Eins"
    selected = {o["value"] for o in html.find("option") if "selected" in o}
    assert {"ENTERPRISE", str(world.kunde1.pk), "STANDARD"} <= selected
    assert "A tenant with this name already exists" in response.content.decode()
    assert Tenant.objects.filter(name_key="kunde eins").count() == 1


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"name": ""}, "This field is required."),
        ({"name": "N" * 101}, "at most 100 characters; it has 101"),
        ({"name": "Neue\u200bFirma"}, "U+200B"),
        ({"charset": "ISO-8859-1"}, "STANDARD tenants always use UTF-8"),
        ({"type": "PREMIUM"}, "Select a valid choice."),
    ],
)
def test_invalid_posts_show_the_services_message(world, paula, overrides, message):
    response = paula.post(MANAGEMENT.format("agentur-alpha"), form_data(world, **overrides))
    assert response.status_code == 422
    assert message in response.content.decode()
    assert Tenant.objects.count() == 6


def test_invalid_logo_is_refused_with_its_limits(world, paula):
    response = paula.post(
        MANAGEMENT.format("agentur-alpha"), form_data(world, logo=upload(corpus.png(301, 100)))
    )
    assert response.status_code == 422
    body = response.content.decode()
    assert "The image has 301 × 100 pixels." in body
    assert page(response).one("input", name="logo_kept").get("value", "") == ""
    assert not Tenant.objects.filter(name="Neue Firma").exists()


def test_a_valid_logo_is_kept_when_the_name_is_refused(world, paula):
    response = paula.post(
        MANAGEMENT.format("agentur-alpha"),
        form_data(world, name="KUNDE EINS", logo=upload(corpus.jpeg(90, 30), "logo.jpg")),
    )
    assert response.status_code == 422
    kept = page(response).one("input", name="logo_kept")
    assert kept["type"] == "hidden"
    assert kept["value"]
    assert "Your uploaded logo is kept" in response.content.decode()

    response = paula.post(
        MANAGEMENT.format("agentur-alpha"),
        form_data(world, name="Mit Logo", logo_kept=kept["value"]),
    )
    assert response.status_code == 302
    new = Tenant.objects.get(name="Mit Logo")
    assert new.has_logo
    assert (new.logo_width, new.logo_height) == (90, 30)
    assert bytes(new.logo_png).startswith(corpus.PNG_SIGNATURE)


def test_a_forged_kept_logo_is_ignored(world, paula):
    response = paula.post(
        MANAGEMENT.format("agentur-alpha"), form_data(world, logo_kept="forged:token")
    )
    assert response.status_code == 302
    assert not Tenant.objects.get(name="Neue Firma").has_logo


def test_a_new_upload_wins_over_a_kept_logo(world, paula):
    first = paula.post(
        MANAGEMENT.format("agentur-alpha"),
        form_data(world, name="Kunde Eins", logo=upload(corpus.png(10, 10))),
    )
    kept = page(first).one("input", name="logo_kept")["value"]
    paula.post(
        MANAGEMENT.format("agentur-alpha"),
        form_data(world, logo_kept=kept, logo=upload(corpus.png(40, 20))),
    )
    assert Tenant.objects.get(name="Neue Firma").logo_width == 40


# --- who sees the form ----------------------------------------------------------------------


def test_carl_sees_no_form_but_a_clear_message(world):
    carl = world.client_for(world.carl)
    response = carl.get(MANAGEMENT.format("kunde-eins"))
    assert response.status_code == 200
    body = response.content.decode()
    assert 'data-testid="tenant-create-form"' not in body
    assert "The product Tenant management is not active for your tenant" in body
    assert listed_slugs(response) == ["kunde-eins", "filiale-eins-a"]

    response = carl.post(
        MANAGEMENT.format("kunde-eins"), form_data(world, master=str(world.kunde1.pk))
    )
    assert response.status_code == 200
    assert not Tenant.objects.filter(name="Neue Firma").exists()


def test_a_viewer_sees_neither_form_nor_list(world):
    from mandant.accounts.roles import Role
    from mandant.accounts.services import membership_set, user_create

    viewer = user_create(email="viewer@alpha.example", password="x" * 20)
    membership_set(actor=Actor(user=world.olga), tenant=world.alpha, user=viewer, role=Role.VIEWER)
    response = world.client_for(viewer).get(MANAGEMENT.format("agentur-alpha"))
    body = response.content.decode()
    assert 'data-testid="tenant-create-form"' not in body
    assert 'data-testid="tenant-list"' not in body
    assert "needs the role Administrator or Customer Service" in body


# --- the list -------------------------------------------------------------------------------


def test_list_shows_the_subtree_in_tree_order(world, paula):
    response = paula.get(MANAGEMENT.format("agentur-alpha"))
    assert listed_slugs(response) == ["agentur-alpha", "kunde-eins", "filiale-eins-a", "kunde-zwei"]
    enter_links = [a["href"] for a in page(response).find("a", target="_blank")]
    assert "/t/kunde-zwei/enter/" in enter_links


@pytest.mark.parametrize(
    ("query", "slugs"),
    [
        ({"q": "eins"}, ["kunde-eins", "filiale-eins-a"]),
        ({"q": "ＥＩＮＳ"}, ["kunde-eins", "filiale-eins-a"]),
        ({"q": "  KUNDE  "}, ["kunde-eins", "kunde-zwei"]),
        ({"q": "nichts"}, []),
        ({"type": "CUSTOM"}, ["kunde-zwei"]),
        ({"version": "ENTERPRISE"}, ["kunde-zwei"]),
        ({"version": "BASIC"}, ["kunde-eins", "filiale-eins-a"]),
        ({"status": "awaiting_configuration"}, ["kunde-zwei"]),
        ({"status": "in_setup", "q": "kunde"}, ["kunde-eins"]),
        ({"type": "STANDARD", "version": "PROFESSIONAL"}, ["agentur-alpha"]),
    ],
)
def test_list_filters_and_search(world, paula, query, slugs):
    response = paula.get(MANAGEMENT.format("agentur-alpha"), query)
    assert response.status_code == 200
    assert listed_slugs(response) == slugs
    if not slugs:
        assert "No tenant matches." in response.content.decode()


def test_list_never_shows_tenants_outside_the_subtree(world, paula):
    response = paula.get(MANAGEMENT.format("agentur-alpha"), {"q": "fremd"})
    assert listed_slugs(response) == []


@pytest.fixture
def many(world):
    paula = Actor(user=world.paula)
    for i in range(1, 56):
        tenant_create(
            actor=paula,
            name=f"Filter Kunde {i:02d}",
            type="STANDARD",
            version="BASIC",
            master=world.kunde2,
        )


def test_list_pages_by_50(world, paula, many):
    url = MANAGEMENT.format("agentur-alpha")
    first = paula.get(url)
    assert len(listed_slugs(first)) == 50
    assert "Page 1 of 2" in first.content.decode()
    assert "(59)" in first.content.decode()

    second = paula.get(url, {"page": "2"})
    assert "Page 2 of 2" in second.content.decode()
    assert listed_slugs(second) == [f"filter-kunde-{i:02d}" for i in range(47, 56)]
    assert set(listed_slugs(first)).isdisjoint(listed_slugs(second))

    beyond = paula.get(url, {"page": "99"})
    assert listed_slugs(beyond) == listed_slugs(second)


def test_paging_keeps_the_filters(world, paula, many):
    url = MANAGEMENT.format("agentur-alpha")
    first = paula.get(url, {"q": "filter kunde"})
    assert len(listed_slugs(first)) == 50
    next_links = [a["href"] for a in page(first).find("a") if a.get("_text", "").strip() == "Next"]
    assert next_links == ["?q=filter+kunde&page=2"]
    second = paula.get(url + next_links[0])
    assert listed_slugs(second) == [f"filter-kunde-{i:02d}" for i in range(51, 56)]


# --- tenant home, logo, banner --------------------------------------------------------------


def test_home_shows_the_name_when_there_is_no_logo(world, paula):
    html = page(paula.get("/t/kunde-eins/"))
    assert html.find("span", data_testid="tenant-name")
    assert not html.find("img", data_testid="tenant-logo")
    assert paula.get("/t/kunde-eins/logo.png").status_code == 404


def test_home_shows_the_logo_and_the_logo_is_served_as_png(world, paula):
    tenant_set_logo(
        actor=Actor(user=world.paula),
        tenant=world.kunde1,
        logo=LogoUpload(data=corpus.gif(120, 40), filename="logo.gif"),
    )
    world.kunde1.refresh_from_db()

    html = page(paula.get("/t/kunde-eins/"))
    img = html.one("img", data_testid="tenant-logo")
    assert img["src"] == f"/t/kunde-eins/logo.png?v={world.kunde1.logo_version}"
    assert (img["width"], img["height"]) == ("120", "40")
    assert img["alt"] == "Kunde Eins"
    assert not html.find("span", data_testid="tenant-name")

    response = paula.get(img["src"])
    assert response.status_code == 200
    assert response["Content-Type"] == "image/png"
    assert response.content.startswith(corpus.PNG_SIGNATURE)
    assert response.content == bytes(world.kunde1.logo_png)
    assert world.client_for(world.eve).get("/t/kunde-eins/logo.png").status_code == 404


def test_logo_uploaded_with_the_form_shows_in_the_new_tenant(world, paula):
    paula.post(
        MANAGEMENT.format("agentur-alpha"),
        form_data(world, logo=upload(corpus.webp(64, 32), "logo.webp")),
    )
    html = page(paula.get("/t/neue-firma/"))
    assert html.one("img", data_testid="tenant-logo")["width"] == "64"


def test_acting_banner_names_the_inherited_role_and_its_source(world, paula):
    body = paula.get("/t/kunde-eins/").content.decode()
    assert (
        "You are acting in <strong>Kunde Eins</strong> as <strong>Customer Service</strong>, "
        "inherited from <strong>Agentur Alpha</strong>."
    ) in body

    own = paula.get("/t/agentur-alpha/").content.decode()
    assert "as <strong>Customer Service</strong>." in own
    assert "inherited from" not in own

    carl = world.client_for(world.carl).get("/t/kunde-eins/").content.decode()
    assert "as <strong>Administrator</strong>." in carl
    assert "inherited from" not in carl

    olga = world.client_for(world.olga).get("/t/kunde-eins/").content.decode()
    assert "as <strong>Operator</strong> (service staff)" in olga


def test_names_are_escaped(world, paula):
    tenant_create(
        actor=Actor(user=world.paula),
        name="<script>alert(1)</script>",
        type="STANDARD",
        version="BASIC",
        master=world.alpha,
    )
    body = paula.get(MANAGEMENT.format("agentur-alpha")).content.decode()
    assert "<script>alert(1)</script>" not in body
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in body


# --- operator -------------------------------------------------------------------------------


def test_operator_marks_kunde2_configured(world):
    olga = world.client_for(world.olga)
    url = f"/operator/tenants/{world.kunde2.pk}/configured/"
    assert olga.get(url).status_code == 405

    response = olga.post(url)

    assert response.status_code == 302
    assert response["Location"] == "/operator/"
    world.kunde2.refresh_from_db()
    assert world.kunde2.status == "in_setup"
    assert world.kunde2.configured_by == world.olga
    assert (
        AuditEntry.objects.filter(action="tenant.mark_configured", tenant=world.kunde2).count() == 1
    )
    assert olga.post("/operator/tenants/999999/configured/").status_code == 404


def test_non_staff_get_404_on_operator_pages(world):
    url = f"/operator/tenants/{world.kunde2.pk}/configured/"
    for user in (world.paula, world.carl, world.eve):
        c = world.client_for(user)
        assert c.post(url).status_code == 404
        assert c.get("/operator/").status_code == 404
    world.kunde2.refresh_from_db()
    assert world.kunde2.status == "awaiting_configuration"
    assert not AuditEntry.objects.filter(action="tenant.mark_configured").exists()


# --- German -----------------------------------------------------------------------------------


def german(world, user):
    user.language = "de"
    user.save()
    c = world.client_for(user)
    c.cookies[settings.LANGUAGE_COOKIE_NAME] = "de"
    return c


def test_german_tenant_management_page(world):
    response = german(world, world.paula).get(MANAGEMENT.format("agentur-alpha"))
    body = response.content.decode()
    assert '<html lang="de">' in body
    assert "Mandantenverwaltung" in body
    assert "Neuen Mandanten erzeugen" in body
    assert "Benutzer" in body
    assert "Create new tenant" not in body
    assert "geerbt von" not in body


def test_german_banner_and_carls_message(world):
    paula = german(world, world.paula)
    body = paula.get("/t/kunde-eins/").content.decode()
    assert "geerbt von <strong>Agentur Alpha</strong>" in body
    carl = german(world, world.carl)
    body = carl.get(MANAGEMENT.format("kunde-eins")).content.decode()
    assert "Das Produkt Mandantenverwaltung ist für Deinen Mandanten nicht freigeschaltet" in body


def test_german_error_messages_from_the_service(world):
    response = german(world, world.paula).post(
        MANAGEMENT.format("agentur-alpha"), form_data(world, name="N" * 101)
    )
    assert response.status_code == 422
    assert "Der Name darf höchstens 100 Zeichen haben; er hat 101." in response.content.decode()


def test_the_users_language_wins_over_the_cookie(world):
    c = world.client_for(world.paula)  # paula's language is English
    c.cookies[settings.LANGUAGE_COOKIE_NAME] = "de"
    body = c.get(MANAGEMENT.format("agentur-alpha")).content.decode()
    assert "Create new tenant" in body


def test_the_api_key_help_shows_the_key_placeholder_literally(world, paula):
    url = "/t/agentur-alpha/setup/api-keys/"
    english = paula.get(url).content.decode()
    assert "Send it as “Authorization: Bearer &lt;key&gt;”." in english
    german_page = german(world, world.paula).get(url).content.decode()
    assert "„Authorization: Bearer &lt;Schlüssel&gt;“." in german_page
    assert "<Schlüssel>" not in german_page


def test_the_management_page_has_no_duplicate_ids(world):
    import re
    from collections import Counter

    page = world.client_for(world.paula).get("/t/agentur-alpha/setup/upgrades/tenants/")
    assert page.status_code == 200
    ids = Counter(re.findall(r'\bid="([^"]+)"', page.content.decode()))
    assert [name for name, count in ids.items() if count > 1] == []
