"""Contacts: normalised addresses unique per tenant, statuses, lists, segments, sendable set."""

from html.parser import HTMLParser

import pytest
from django.core.exceptions import ValidationError
from django_scopes import scope

from mandant.contacts import selectors, services
from mandant.contacts.models import ConsentRecord, Contact, ContactStatus
from mandant.contacts.normalize import normalize_email
from mandant.core.actor import Actor
from mandant.core.errors import NotFound


def make(world, tenant, email, **fields):  # type: ignore[no-untyped-def]
    with scope(tenant=tenant.pk):
        return services.contact_create(
            actor=Actor(user=world.paula), tenant=tenant, email=email, **fields
        )


@pytest.mark.parametrize(
    ("raw", "stored"),
    [
        ("  Max.Muster@Example.COM ", "max.muster@example.com"),
        ("jörg@BÜCHER.example", "jörg@bücher.example"),
        ("info@xn--bcher-kva.example", "info@bücher.example"),
    ],
)
def test_addresses_are_normalised(raw, stored):
    assert normalize_email(raw) == stored


@pytest.mark.parametrize("raw", ["", "no-at-sign", "a@b", "two@@example.com", "a b@example.com"])
def test_invalid_addresses_are_refused(raw):
    with pytest.raises(ValidationError):
        normalize_email(raw)


def test_each_address_once_per_tenant_but_in_every_tenant(world):
    make(world, world.kunde1, "Anna@Example.com", first_name="Anna")
    with pytest.raises(ValidationError) as caught:
        make(world, world.kunde1, "anna@EXAMPLE.com")
    assert "email" in caught.value.error_dict
    other = make(world, world.kunde2, "anna@example.com")
    assert other.email == "anna@example.com"
    with scope(tenant=world.kunde1.pk):
        assert Contact.objects.filter(tenant=world.kunde1).count() == 1
        contact = Contact.objects.get(tenant=world.kunde1)
        assert ConsentRecord.objects.filter(tenant=world.kunde1, contact=contact).count() == 1


def test_update_and_delete(world):
    contact = make(world, world.kunde1, "bert@example.com")
    make(world, world.kunde1, "taken@example.com")
    with scope(tenant=world.kunde1.pk):
        services.contact_update(
            actor=None, tenant=world.kunde1, contact=contact, first_name=" Bert ", language="DE"
        )
        contact.refresh_from_db()
        assert (contact.first_name, contact.language) == ("Bert", "de")
        with pytest.raises(ValidationError):
            services.contact_update(
                actor=None, tenant=world.kunde1, contact=contact, email="TAKEN@example.com"
            )
        with pytest.raises(ValidationError):
            services.contact_update(actor=None, tenant=world.kunde1, contact=contact, status="x")
        services.contact_delete(actor=None, tenant=world.kunde1, contact=contact)
        with pytest.raises(NotFound):
            selectors.contact_get(tenant=world.kunde1, pk=contact.pk)


def test_a_contact_of_another_tenant_is_not_found(world):
    contact = make(world, world.kunde2, "x@example.com")
    with scope(tenant=world.kunde1.pk), pytest.raises(NotFound):
        selectors.contact_get(tenant=world.kunde1, pk=contact.pk)


def test_sendable_leaves_out_the_four_statuses(world):
    tenant = world.kunde1
    contacts = {
        status: make(world, tenant, f"{status}@example.com") for status in ContactStatus.values
    }
    with scope(tenant=tenant.pk):
        for status, contact in contacts.items():
            Contact.objects.filter(pk=contact.pk).update(status=status)
        news = services.list_create(actor=None, tenant=tenant, name="News")
        services.list_add_members(
            actor=None,
            tenant=tenant,
            contact_list=news,
            contact_ids=[c.pk for c in contacts.values()],
        )
        everyone = list(selectors.sendable_contacts(tenant=tenant))
        on_list = list(selectors.sendable_contacts(tenant=tenant, contact_list=news))
        assert [c.email for c in everyone] == ["active@example.com"]
        assert [c.email for c in on_list] == ["active@example.com"]


def test_sendable_is_walked_by_id_in_batches(world):
    tenant = world.kunde1
    for i in range(25):
        make(world, tenant, f"p{i}@example.com")
    with scope(tenant=tenant.pk):
        batches = list(selectors.walk_by_id(selectors.sendable_contacts(tenant=tenant), batch=10))
        assert [len(b) for b in batches] == [10, 10, 5]
        ids = [c.pk for b in batches for c in b]
        assert ids == sorted(ids) and len(set(ids)) == 25


def test_unsubscribe_is_tenant_wide(world):
    tenant = world.kunde1
    contact = make(world, tenant, "u@example.com")
    with scope(tenant=tenant.pk):
        one = services.list_create(actor=None, tenant=tenant, name="One")
        two = services.list_create(actor=None, tenant=tenant, name="Two")
        for cl in (one, two):
            services.list_add_members(
                actor=None, tenant=tenant, contact_list=cl, contact_ids=[contact.pk]
            )
        services.contact_unsubscribe(tenant=tenant, contact=contact, source="test")
        assert contact.status == ContactStatus.UNSUBSCRIBED
        for cl in (one, two):
            assert not selectors.sendable_contacts(tenant=tenant, contact_list=cl).exists()


def test_lists_members_and_names(world):
    tenant = world.kunde1
    a = make(world, tenant, "a@example.com")
    foreign = make(world, world.kunde2, "f@example.com")
    with scope(tenant=tenant.pk):
        cl = services.list_create(actor=None, tenant=tenant, name="Kunden")
        with pytest.raises(ValidationError):
            services.list_create(actor=None, tenant=tenant, name="kunden")
        added = services.list_add_members(
            actor=None, tenant=tenant, contact_list=cl, contact_ids=[a.pk, a.pk, foreign.pk]
        )
        assert added == 1
        assert [c.email for c in selectors.list_members(tenant=tenant, contact_list=cl)] == [
            "a@example.com"
        ]
        services.list_remove_members(actor=None, tenant=tenant, contact_list=cl, contact_ids=[a.pk])
        assert not selectors.list_members(tenant=tenant, contact_list=cl).exists()
        services.list_delete(actor=None, tenant=tenant, contact_list=cl)
        assert Contact.objects.filter(pk=a.pk).exists()


def test_segments_filter(world):
    tenant = world.kunde1
    make(world, tenant, "de1@firma.de", language="de", fields={"plz": "80331", "typ": "Gold"})
    make(world, tenant, "de2@other.de", language="de", fields={"plz": "10115"})
    make(world, tenant, "en@firma.de", language="en", fields={"typ": "silver gold"})
    with scope(tenant=tenant.pk):

        def emails(rules):  # type: ignore[no-untyped-def]
            segment = services.segment_create(
                actor=None, tenant=tenant, name=str(rules), rules=rules
            )
            return sorted(
                c.email for c in selectors.sendable_contacts(tenant=tenant, segment=segment)
            )

        assert emails({"conditions": [{"field": "language", "value": "de"}]}) == [
            "de1@firma.de",
            "de2@other.de",
        ]
        assert emails(
            {
                "conditions": [
                    {"field": "email_domain", "value": "FIRMA.de"},
                    {"field": "language", "value": "de"},
                ]
            }
        ) == ["de1@firma.de"]
        assert emails(
            {"conditions": [{"field": "field:typ", "op": "contains", "value": "gold"}]}
        ) == ["de1@firma.de", "en@firma.de"]
        assert emails({"conditions": [{"field": "field:plz", "value": "10115"}]}) == [
            "de2@other.de"
        ]
        cl = services.list_create(actor=None, tenant=tenant, name="L")
        services.list_add_members(
            actor=None,
            tenant=tenant,
            contact_list=cl,
            contact_ids=[Contact.objects.get(email="en@firma.de").pk],
        )
        assert emails({"conditions": [{"field": "list", "value": str(cl.pk)}]}) == ["en@firma.de"]
        # By its name, as people know it; stored by id, so a renamed list keeps the segment.
        by_name = services.segment_create(
            actor=None,
            tenant=tenant,
            name="by name",
            rules={"conditions": [{"field": "list", "value": " l "}]},
        )
        assert by_name.rules["conditions"][0]["value"] == str(cl.pk)
        for bad in (
            {"conditions": [{"field": "list", "value": "99999999999999999999"}]},
            {"conditions": [{"field": "list", "value": "Unbekannt"}]},
            {"conditions": [{"field": "nope", "value": "x"}]},
            {"conditions": [{"field": "status", "value": "nope"}]},
            {"conditions": [{"field": "language", "op": "contains", "value": "d"}]},
            {"conditions": [{"field": "list", "value": "999999"}]},
            {"conditions": "x"},
        ):
            with pytest.raises(ValidationError):
                services.segment_create(actor=None, tenant=tenant, name="bad", rules=bad)


# --- web pages ---------------------------------------------------------------------------


def test_contact_list_search_filter_and_export(world):
    tenant = world.kunde1
    make(world, tenant, "anna@example.com", first_name="Anna")
    bert = make(world, tenant, "bert@example.com", first_name="Bert")
    with scope(tenant=tenant.pk):
        Contact.objects.filter(pk=bert.pk).update(status=ContactStatus.BOUNCED)
    client = world.client_for(world.carl)
    page = client.get(f"/t/{tenant.slug}/contacts/", {"q": "ann"})
    assert page.status_code == 200
    assert b"anna@example.com" in page.content and b"bert@example.com" not in page.content
    page = client.get(f"/t/{tenant.slug}/contacts/", {"status": "bounced"})
    assert b"bert@example.com" in page.content and b"anna@example.com" not in page.content
    export = client.get(f"/t/{tenant.slug}/contacts/export.csv")
    body = b"".join(export.streaming_content).decode()  # type: ignore[attr-defined]
    assert body.splitlines()[0] == "email,first_name,last_name,language,status"
    assert "bert@example.com,Bert,,,bounced" in body
    # Another partner: 404.
    assert world.client_for(world.eve).get(f"/t/{tenant.slug}/contacts/").status_code == 404


def test_import_wizard_dry_run_start_job_and_errors(world, django_capture_on_commit_callbacks):
    from django.core.files.uploadedfile import SimpleUploadedFile

    from mandant.contacts.models import ImportFile
    from mandant.jobs.models import Job

    tenant = world.kunde1
    client = world.client_for(world.carl)
    base = f"/t/{tenant.slug}/contacts/"
    assert client.post(base + "import/", {}).status_code == 422
    # A row the CSV reader refuses: the upload page says so (422), nothing is kept.
    huge = b"email,notes\na@x.de," + b"x" * 200_000 + b"\n"
    refused = client.post(base + "import/", {"file": SimpleUploadedFile("h.csv", huge)})
    assert refused.status_code == 422 and b"not a readable CSV" in refused.content
    with scope(tenant=tenant.pk):
        assert not ImportFile.objects.filter(tenant=tenant).exists()
    csv = "E-Mail;Vorname;Kundennr\nA@x.de;Anna;1\nkaputt;B;2\n"
    response = client.post(base + "import/", {"file": SimpleUploadedFile("k.csv", csv.encode())})
    assert response.status_code == 302
    mapping_url = response["Location"]
    page = client.get(mapping_url)
    assert page.status_code == 200 and b"Anna" in page.content
    form = {"col0": "email", "col1": "first_name", "col2": "field:Kundennr"}
    dry = client.post(mapping_url, {**form, "action": "dry_run"})
    assert dry.status_code == 200 and b'data-testid="dry-run"' in dry.content
    with scope(tenant=tenant.pk):
        assert not Contact.objects.filter(tenant=tenant).exists()
    assert client.post(mapping_url, {"col0": "", "action": "dry_run"}).status_code == 422
    with django_capture_on_commit_callbacks(execute=True):
        started = client.post(mapping_url, {**form, "keep_valid": "on", "action": "start"})
    assert started.status_code == 302
    job_url = started["Location"]
    with scope(tenant=tenant.pk):
        job = Job.objects.get(tenant=tenant)
        if not job.finished:  # the test settings' task backend may not run it
            from mandant.contacts.importing import import_job_run

            import_job_run(job_id=job.pk)
        assert [c.email for c in Contact.objects.filter(tenant=tenant)] == ["a@x.de"]
    page = client.get(job_url)
    assert page.status_code == 200 and b"data-job-status-url" in page.content
    assert client.get(job_url + "status/").json()["status"] == "done"
    # The Copy Content job pages do not show an import job (each kind has its own).
    assert client.get(f"/t/{tenant.slug}/content/jobs/{job.pk}/").status_code == 404
    # ... nor lists it among the Copy jobs (its "Open" link would be that 404).
    jobs_page = client.get(f"/t/{tenant.slug}/content/jobs/").content.decode()
    assert f"/jobs/{job.pk}/" not in jobs_page
    assert "No content has been copied from this tenant yet." in jobs_page
    errors = client.get(job_url + "errors.csv").content.decode()
    assert errors.splitlines() == ["line,email,error", "3,kaputt,Enter a valid e-mail address."]


def test_a_viewer_may_look_but_not_import(world):
    from mandant.accounts.roles import Role
    from mandant.accounts.services import membership_set, user_create

    vera = user_create(email="vera@kunde.example", password="x" * 20)
    membership_set(actor=Actor(user=world.olga), tenant=world.kunde1, user=vera, role=Role.VIEWER)
    client = world.client_for(vera)
    assert client.get(f"/t/{world.kunde1.slug}/contacts/").status_code == 200
    assert client.get(f"/t/{world.kunde1.slug}/contacts/import/").status_code == 403


def test_contact_pages_create_edit_delete(world):
    tenant = world.kunde1
    client = world.client_for(world.carl)
    base = f"/t/{tenant.slug}/contacts/"
    bad = client.post(base + "new/", {"email": "kaputt", "first_name": "Kai"})
    assert bad.status_code == 422 and b'value="Kai"' in bad.content
    created = client.post(base + "new/", {"email": "Kai@X.de", "first_name": "Kai"})
    assert created.status_code == 302
    with scope(tenant=tenant.pk):
        contact = Contact.objects.get(tenant=tenant, email="kai@x.de")
    url = f"{base}{contact.pk}/"
    assert client.get(url).status_code == 200
    form = {"email": "kai@x.de", "first_name": "Kai", "last_name": "K", "language": "de"}
    assert client.post(url, {**form, "status": "blocked"}).status_code == 302
    contact.refresh_from_db()
    assert (contact.last_name, contact.status) == ("K", "blocked")
    assert client.post(url, {**form, "status": "nonsense"}).status_code == 422
    assert client.post(url, {"action": "delete"}).status_code == 302
    with scope(tenant=tenant.pk):
        assert not Contact.objects.filter(pk=contact.pk).exists()
    assert client.get(url).status_code == 404


def test_list_pages(world):
    tenant = world.kunde1
    make(world, tenant, "m@x.de")
    client = world.client_for(world.carl)
    base = f"/t/{tenant.slug}/contacts/lists/"
    assert client.post(base, {"name": ""}).status_code == 422
    created = client.post(base, {"name": "Newsletter"})
    assert created.status_code == 302
    detail = created["Location"]
    assert client.post(detail, {"email": "nobody@x.de"}).status_code == 422
    assert client.post(detail, {"email": "M@x.de"}).status_code == 302
    assert b"m@x.de" in client.get(detail).content
    assert b"Newsletter" in client.get(base).content
    with scope(tenant=tenant.pk):
        contact = Contact.objects.get(email="m@x.de")
    client.post(detail, {"action": "remove", "contact": [str(contact.pk)]})
    assert b"m@x.de" not in client.get(detail).content
    assert client.post(detail, {"action": "delete"}).status_code == 302
    assert client.get(detail).status_code == 404


def test_segment_pages_count_preview_and_save(world):
    tenant = world.kunde1
    make(world, tenant, "a@firma.de", language="de")
    make(world, tenant, "b@firma.de", language="en")
    client = world.client_for(world.carl)
    base = f"/t/{tenant.slug}/contacts/segments/"
    form = {"name": "Deutsch", "field0": "language", "op0": "equals", "value0": "de"}
    preview = client.post(base, {**form, "action": "preview"})
    assert preview.status_code == 200
    assert b'data-testid="segment-preview">1 ' in preview.content
    bad = client.post(base, {**form, "field0": "nope", "action": "preview"})
    assert bad.status_code == 422 and b'value="nope"' in bad.content
    assert client.post(base, {**form, "action": "create"}).status_code == 302
    with scope(tenant=tenant.pk):
        from mandant.contacts.models import Segment

        segment = Segment.objects.get(tenant=tenant)
    assert segment.rules == {"conditions": [{"field": "language", "op": "equals", "value": "de"}]}
    assert b"Deutsch" in client.get(base).content
    assert client.post(f"{base}{segment.pk}/delete/").status_code == 302
    with scope(tenant=tenant.pk):
        assert not Segment.objects.filter(tenant=tenant).exists()


def test_german_pages_show_labels_not_codes(world):
    tenant = world.kunde1
    world.carl.language = "de"
    world.carl.save(update_fields=["language"])
    client = world.client_for(world.carl)
    segments = client.get(f"/t/{tenant.slug}/contacts/segments/").content.decode()
    assert '<option value="equals" selected>ist</option>' in segments
    assert '<option value="contains">enthält</option>' in segments
    assert "<code>email_domain</code>: E-Mail-Domain (Wert: der Teil nach dem @)" in segments
    assert "equals" not in segments.split('data-testid="segment-fields"')[1].split("</ul>")[0]

    contact = make(world, tenant, "kai@x.de", language="de")
    make(world, tenant, "fr@x.de", language="fr")
    odd = make(world, tenant, "odd@x.de", language="xx")
    with scope(tenant=tenant.pk):
        ConsentRecord.objects.create(tenant=tenant, contact=contact, source="import")
        ConsentRecord.objects.create(tenant=tenant, contact=contact, source="form:Website")
    listing = client.get(f"/t/{tenant.slug}/contacts/").content.decode()
    assert "<td>Deutsch</td>" in listing and "<td>Französisch</td>" in listing
    assert "<td>xx</td>" in listing  # no known language: the code as it is
    detail = client.get(f"/t/{tenant.slug}/contacts/{contact.pk}/").content.decode()
    assert '<option value="de" selected>Deutsch</option>' in detail
    history = detail.split('data-testid="consent-history"')[1]
    assert "<td>Import</td>" in history and "<td>Formular: Website</td>" in history
    # A code that is no known language is offered as it is, and saving keeps it.
    odd_url = f"/t/{tenant.slug}/contacts/{odd.pk}/"
    assert '<option value="xx" selected>xx</option>' in client.get(odd_url).content.decode()
    form = {"email": "odd@x.de", "language": "xx", "status": "active", "action": "save"}
    assert client.post(odd_url, form).status_code == 302
    assert client.post(odd_url, {**form, "language": "yy"}).status_code == 422
    odd.refresh_from_db()
    assert odd.language == "xx"


class _Forms(HTMLParser):
    """Each form's attributes with the (name, value) of its submit buttons."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.forms: list[tuple[dict[str, str], list[tuple[str, str]]]] = []
        self._open = False
        self.feed(html)

    def handle_starttag(self, tag, attrs):  # type: ignore[no-untyped-def]
        a = {k: v or "" for k, v in attrs}
        if tag == "form":
            self.forms.append((a, []))
            self._open = True
        elif tag == "button" and self._open and a.get("type", "submit") == "submit":
            self.forms[-1][1].append((a.get("name", ""), a.get("value", "")))

    def handle_endtag(self, tag):  # type: ignore[no-untyped-def]
        if tag == "form":
            self._open = False


def test_deleting_a_contact_a_list_a_segment_or_a_form_asks_first(world):
    """The same ``data-confirm`` form as a campaign's or a content item's Delete: with
    JavaScript the browser asks, and the form holds nothing but the delete button (so Save
    does not ask, and Delete sends nothing else)."""
    from mandant.contacts.models import SignupForm

    tenant = world.kunde1
    contact = make(world, tenant, "frag@x.de")
    with scope(tenant=tenant.pk):
        contact_list = services.list_create(actor=None, tenant=tenant, name="Frag")
        segment = services.segment_create(
            actor=None,
            tenant=tenant,
            name="Frag",
            rules={"conditions": [{"field": "language", "op": "equals", "value": "de"}]},
        )
        signup = services.signup_form_create(
            actor=None,
            tenant=tenant,
            name="Frag",
            contact_list=contact_list,
            consent_text="Ja.",
            languages=["de"],
        )
    client = world.client_for(world.carl)
    base = f"/t/{tenant.slug}/contacts/"
    pages = {
        f"{base}{contact.pk}/": ("delete", ""),
        f"{base}lists/{contact_list.pk}/": ("delete", ""),
        f"{base}segments/": ("", f"{base}segments/{segment.pk}/delete/"),
        f"{base}forms/{signup.pk}/": ("delete", ""),
    }
    for url, (value, action) in pages.items():
        forms = _Forms(client.get(url).content.decode()).forms
        deleting = [
            (attrs, buttons)
            for attrs, buttons in forms
            if ("action", value) in buttons or (action and attrs.get("action") == action)
        ]
        assert len(deleting) == 1, url
        attrs, buttons = deleting[0]
        assert attrs.get("data-confirm", "").startswith("Delete this "), url
        assert len(buttons) == 1, url
        # Without JavaScript the form is sent as it is, as a campaign's Delete is.
        data = {name: val for name, val in buttons if name}
        assert client.post(attrs.get("action") or url, data).status_code == 302, url
    with scope(tenant=tenant.pk):
        assert not Contact.objects.filter(pk=contact.pk).exists()
        assert not SignupForm.objects.filter(pk=signup.pk).exists()


def test_the_contact_page_shows_its_lists_and_custom_fields(world):
    tenant = world.kunde1
    anna = make(world, tenant, "anna@x.de", fields={"stadt": "Kiel", "kundennr": "17"})
    bert = make(world, tenant, "bert@x.de")
    with scope(tenant=tenant.pk):
        messe = services.list_create(actor=None, tenant=tenant, name="Messe 2026")
        services.list_create(actor=None, tenant=tenant, name="Leer")
        services.list_add_members(
            actor=None, tenant=tenant, contact_list=messe, contact_ids=[anna.pk]
        )
    client = world.client_for(world.carl)
    page = client.get(f"/t/{tenant.slug}/contacts/{anna.pk}/").content.decode()
    lists = page.split('data-testid="contact-lists"')[1].split("</ul>")[0]
    assert "Messe 2026" in lists and "Leer" not in lists
    fields = page.split('data-testid="contact-fields"')[1].split("</table>")[0]
    assert fields.index("kundennr") < fields.index("stadt") and "Kiel" in fields
    empty = client.get(f"/t/{tenant.slug}/contacts/{bert.pk}/").content.decode()
    assert "On no list." in empty and "No custom fields." in empty


def test_a_segment_is_changed_on_its_own_page(world):
    tenant = world.kunde1
    make(world, tenant, "a@firma.de", language="de")
    make(world, tenant, "b@firma.de", language="en")
    with scope(tenant=tenant.pk):
        messe = services.list_create(actor=None, tenant=tenant, name="Messe 2026")
        segment = services.segment_create(
            actor=None,
            tenant=tenant,
            name="Deutsch auf der Messe",
            rules={
                "conditions": [
                    {"field": "language", "value": "de"},
                    {"field": "list", "value": str(messe.pk)},
                ]
            },
        )
    client = world.client_for(world.carl)
    base = f"/t/{tenant.slug}/contacts/segments/"
    listing = client.get(base).content.decode()
    assert f'href="{base}{segment.pk}/"' in listing
    page = client.get(f"{base}{segment.pk}/").content.decode()
    assert "Change the segment “Deutsch auf der Messe”" in page
    assert 'name="field1" value="list"' in page and 'name="value1" value="Messe 2026"' in page
    form = {
        "name": "Englisch",
        "field0": "language",
        "op0": "equals",
        "value0": "en",
        "action": "create",
    }
    assert client.post(f"{base}{segment.pk}/", form).status_code == 302
    with scope(tenant=tenant.pk):
        segment.refresh_from_db()
        assert segment.name == "Englisch"
        assert segment.rules == {
            "conditions": [{"field": "language", "op": "equals", "value": "en"}]
        }
        assert [c.email for c in selectors.segment_contacts(tenant=tenant, segment=segment)] == [
            "b@firma.de"
        ]
        assert services.Segment.objects.filter(tenant=tenant).count() == 1  # changed, not added
    # Not found for the user of another partner.
    assert world.client_for(world.eve).get(f"{base}{segment.pk}/").status_code == 404


def test_counting_a_segment_warns_of_a_custom_field_nobody_has(world):
    tenant = world.kunde1
    make(world, tenant, "k@x.de", fields={"stadt": "Kiel"})
    client = world.client_for(world.carl)
    base = f"/t/{tenant.slug}/contacts/segments/"
    form = {"name": "Kiel", "field0": "field:stadt", "op0": "equals", "value0": "Kiel"}
    page = client.post(base, {**form, "action": "preview"}).content.decode()
    assert "1 contact matches." in page and "segment-unknown-field" not in page
    typo = client.post(base, {**form, "field0": "field:stadtt", "action": "preview"})
    assert "No contact has a custom field “stadtt”: check its spelling." in typo.content.decode()
