"""No page offers a link or a form that answers 403 to the user it is shown to.

A crawl with the test client: from a tenant's home, every page of that tenant reachable through
the pages' own links is opened; every link on them is followed and every form submitted (each
submit button once, with the values the form shows, inside a savepoint that is rolled back so
nothing changes). None may answer 403. New links and buttons are covered without touching this
test, so a page that offers an action to a role the view refuses fails here.
"""

from collections import deque
from dataclasses import dataclass, field
from html.parser import HTMLParser
from urllib.parse import urldefrag, urljoin, urlsplit

import pytest
from django.db import transaction
from django.test import Client
from django_scopes import scope

from campaign_support import ready_campaign, ready_tenant
from import_support import queued_import
from mandant.accounts.models import Membership
from mandant.accounts.roles import Role
from mandant.contacts import services as contacts
from mandant.contacts.models import Contact
from mandant.content import services as content
from user_support import add_member

PAGES_LIMIT = 400


# Inputs a browser submits the form from when Enter is pressed in one of them.
TEXT_LIKE = {"text", "search", "email", "url", "tel", "password", "number", "date"}


@dataclass
class Form:
    action: str
    method: str
    fields: list[tuple[str, str]] = field(default_factory=list)
    # (name, value, formaction) of each enabled submit button.
    buttons: list[tuple[str, str, str]] = field(default_factory=list)
    text_inputs: int = 0

    def submissions(self) -> list[tuple[str, str, str]]:
        """What a user can submit: each button; without one, Enter in the only text field
        (the HTML rule for implicit submission); a form of disabled fields, nothing."""
        if self.buttons:
            return self.buttons
        return [("", "", "")] if self.text_inputs == 1 else []


class PageParser(HTMLParser):
    """The links and forms of a page, with the values a browser would submit."""

    def __init__(self) -> None:
        super().__init__()
        self.links: list[str] = []
        self.forms: list[Form] = []
        self._by_id: dict[str, Form] = {}
        self._form: Form | None = None
        self._select: tuple[Form, str] | None = None
        self._select_value: str | None = None
        self._textarea: tuple[Form, str] | None = None
        self._text = ""

    def handle_starttag(self, tag, attrs):  # type: ignore[no-untyped-def]
        a = {k: v or "" for k, v in attrs}
        if tag == "a" and "href" in a:
            self.links.append(a["href"])
            return
        if tag == "form":
            self._form = Form(action=a.get("action", ""), method=a.get("method", "get").lower())
            self.forms.append(self._form)
            if a.get("id"):
                self._by_id[a["id"]] = self._form
            return
        # A control belongs to the form around it, or to the one its form="…" names.
        form = self._by_id.get(a["form"]) if "form" in a else self._form
        if form is None or "disabled" in a:
            return
        name, value = a.get("name", ""), a.get("value", "")
        if tag == "button" and a.get("type", "submit") == "submit":
            form.buttons.append((name, value, a.get("formaction", "")))
        elif tag == "input":
            kind = a.get("type", "text").lower()
            if kind == "submit":
                form.buttons.append((name, value, a.get("formaction", "")))
            elif kind in ("checkbox", "radio"):
                if "checked" in a and name:
                    form.fields.append((name, value or "on"))
            elif kind not in ("file", "button", "reset", "image"):
                form.text_inputs += kind in TEXT_LIKE
                if name:
                    form.fields.append((name, value))
        elif tag == "select" and name:
            self._select, self._select_value = (form, name), None
        elif tag == "option" and self._select is not None:
            if self._select_value is None or "selected" in a:
                self._select_value = value
        elif tag == "textarea" and name:
            self._textarea, self._text = (form, name), ""

    def handle_data(self, data):  # type: ignore[no-untyped-def]
        if self._textarea is not None:
            self._text += data

    def handle_endtag(self, tag):  # type: ignore[no-untyped-def]
        if tag == "form":
            self._form = None
        elif tag == "select" and self._select is not None:
            form, name = self._select
            if self._select_value is not None:
                form.fields.append((name, self._select_value))
            self._select = None
        elif tag == "textarea" and self._textarea is not None:
            form, name = self._textarea
            form.fields.append((name, self._text))
            self._textarea = None


class _RolledBack(Exception):
    pass


def _post_and_roll_back(client: Client, url: str, data: dict[str, list[str]]) -> int:
    status = 0
    try:
        with transaction.atomic():
            status = client.post(url, data).status_code
            raise _RolledBack
    except _RolledBack:
        pass
    return status


def crawl(client: Client, slug: str) -> list[str]:
    """Every link and form on the tenant's pages that answers 403, as readable lines."""
    prefix = f"/t/{slug}/"
    refused: list[str] = []
    checked: dict[str, int] = {}
    queue = deque([prefix])
    seen = {prefix}

    def status_of(url: str) -> int:
        if url not in checked:
            checked[url] = client.get(url).status_code
        return checked[url]

    while queue:
        url = queue.popleft()
        response = client.get(url)
        checked[url] = response.status_code
        assert len(seen) < PAGES_LIMIT, "the crawl does not end"
        if response.status_code in (301, 302):
            target = urljoin(url, response["Location"])
            if target.startswith(prefix) and target not in seen:
                seen.add(target)
                queue.append(target)
            continue
        if response.status_code != 200 or "text/html" not in response.get("Content-Type", ""):
            continue
        parser = PageParser()
        parser.feed(response.content.decode())
        for href in parser.links:
            target, _fragment = urldefrag(urljoin(url, href))
            parts = urlsplit(target)
            if parts.scheme or parts.netloc or not parts.path.startswith("/t/"):
                continue  # another site, a public page, or javascript:/mailto:
            if status_of(target) == 403:
                refused.append(f"{url}: link to {target}")
            elif target.startswith(prefix) and target not in seen:
                seen.add(target)
                queue.append(target)
        for form in parser.forms:
            for name, value, formaction in form.submissions():
                action = urljoin(url, formaction or form.action or url)
                if not urlsplit(action).path.startswith("/t/"):
                    continue
                data: dict[str, list[str]] = {}
                for key, val in [*form.fields, *([(name, value)] if name else [])]:
                    data.setdefault(key, []).append(val)
                if form.method == "post":
                    status = _post_and_roll_back(client, action, data)
                else:
                    status = client.get(action, data).status_code
                if status == 403:
                    what = f"button {name}={value}" if name else "form"
                    refused.append(f"{url}: {what} ({form.method.upper()} {action})")
    return refused


@pytest.fixture
def kunde_drei(world, monkeypatch):  # type: ignore[no-untyped-def]
    """Kunde Drei with something on every page: contacts, a list, a segment, a sign-up form,
    content in a folder, a campaign, an import job; and a Viewer and an Editor."""
    ready = ready_tenant(world, monkeypatch)
    tenant = ready.tenant
    ready_campaign(ready)
    with scope(tenant=tenant.pk):
        contacts.segment_create(
            actor=None,
            tenant=tenant,
            name="Deutsch",
            rules={"conditions": [{"field": "language", "op": "equals", "value": "de"}]},
        )
        contacts.signup_form_create(
            actor=None,
            tenant=tenant,
            name="Website",
            contact_list=ready.contact_list,
            consent_text="Ja, bitte.",
            languages=["de"],
        )
    content.folder_create(actor=ready.actor, tenant=tenant, name="Ordner")
    world.kunde1 = tenant  # queued_import imports into world.kunde1
    queued_import(world, "email\nclara@example.org\n")
    return tenant


@pytest.mark.parametrize("role", [Role.VIEWER, Role.EDITOR, Role.ADMINISTRATOR])
def test_no_page_offers_what_the_role_may_not_do(world, kunde_drei, role):
    user = add_member(kunde_drei, f"role{role}@kunde-drei.example", role=role)
    refused = crawl(world.client_for(user), kunde_drei.slug)
    assert not refused, "\n".join(refused)


def test_customer_service_in_its_own_tenant_is_offered_nothing_it_may_not_do(world):
    # Agentur Alpha has no administrator: the partner may not create one in its own tenant.
    refused = crawl(world.client_for(world.paula), world.alpha.slug)
    assert not refused, "\n".join(refused)


def test_customer_service_below_its_own_tenant_is_offered_nothing_it_may_not_do(world, kunde_drei):
    refused = crawl(world.client_for(world.paula), kunde_drei.slug)
    assert not refused, "\n".join(refused)


@pytest.mark.parametrize("role", [Role.VIEWER, Role.EDITOR])
def test_without_an_administrator_the_hint_says_who_can_create_one(world, kunde_drei, role):
    Membership.objects.filter(tenant=kunde_drei, user=world.carl).delete()
    user = add_member(kunde_drei, f"role{role}@kunde-drei.example", role=role)
    client = world.client_for(user)
    refused = crawl(client, kunde_drei.slug)
    assert not refused, "\n".join(refused)
    home = client.get(f"/t/{kunde_drei.slug}/").content.decode()
    assert "/setup/users/administrator/" not in home
    assert "an administrator or Customer Service of a tenant above this one" in home


def test_the_partner_in_its_own_tenant_is_told_who_creates_the_administrator(world):
    home = world.client_for(world.paula).get(f"/t/{world.alpha.slug}/").content.decode()
    assert "/setup/users/administrator/" not in home
    assert "No administrator yet: an administrator or Customer Service" in home
    # Below its own tenant the partner creates them: the link is there.
    filiale = world.client_for(world.paula).get(f"/t/{world.filiale.slug}/").content.decode()
    assert f"/t/{world.filiale.slug}/setup/users/administrator/" in filiale


def test_the_403_page_names_the_role_the_action_needs(world, kunde_drei):
    viewer = world.client_for(add_member(kunde_drei, "vera@kunde-drei.example"))
    page = viewer.get(f"/t/{kunde_drei.slug}/setup/tenant/")
    assert page.status_code == 403
    assert "This needs at least the role Customer Service." in page.content.decode()
    with scope(tenant=kunde_drei.pk):
        contact = Contact.objects.filter(tenant=kunde_drei).first()
    assert contact is not None
    posted = viewer.post(f"/t/{kunde_drei.slug}/contacts/{contact.pk}/", {"action": "delete"})
    assert posted.status_code == 403
    assert "This needs at least the role Editor." in posted.content.decode()
    own = world.client_for(world.paula).get(f"/t/{world.alpha.slug}/setup/users/administrator/")
    assert own.status_code == 403
    assert (
        "This needs the role Administrator, or Customer Service in a tenant above this one."
        in own.content.decode()
    )


def test_a_viewer_sees_a_contact_read_only(world, kunde_drei):
    viewer = world.client_for(add_member(kunde_drei, "vera@kunde-drei.example"))
    with scope(tenant=kunde_drei.pk):
        contact = Contact.objects.filter(tenant=kunde_drei).first()
    assert contact is not None
    page = viewer.get(f"/t/{kunde_drei.slug}/contacts/{contact.pk}/").content.decode()
    parser = PageParser()
    parser.feed(page)
    # One form on the contact (the others are the page's own, e.g. signing out): its fields
    # all disabled, nothing to submit.
    [form] = [f for f in parser.forms if not f.action]
    assert [name for name, _value in form.fields] == ["csrfmiddlewaretoken"]
    assert form.submissions() == []
    assert contact.email in page


def test_an_unknown_action_in_a_template_is_an_error_not_a_silent_no(world):
    from django.template import Context, Template, TemplateSyntaxError

    from mandant.core.actor import RoleGrant
    from mandant.core.web import TemplatePermissions

    may = TemplatePermissions(RoleGrant(role=Role.EDITOR, source=world.kunde1), world.kunde1)
    template = "{% if may.contact_edit %}yes{% endif %}{% if may.tenant_edit %}no{% endif %}"
    assert Template(template).render(Context({"may": may})) == "yes"
    with pytest.raises(TemplateSyntaxError):
        Template("{% if may.contact_edti %}x{% endif %}").render(Context({"may": may}))
