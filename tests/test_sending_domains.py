"""Sending domains: DKIM keys, the DNS records to publish, the DNS check (a real UDP DNS server
on loopback), the operators' verification without DNS, DKIM signatures, sender identities and
the postal address."""

import dkim
import pytest
from django.core.exceptions import ValidationError
from django_scopes import scope
from tests.fake_dns import fake_dns

from mandant.audit.models import AuditEntry
from mandant.core.actor import Actor
from mandant.core.errors import PermissionDenied
from mandant.sending import services
from mandant.sending.dkim_keys import dkim_sign
from mandant.sending.dns_checks import DnsLookupError
from mandant.sending.models import DomainStatus, SenderIdentity, SendingDomain
from mandant.sending.selectors import domain_records, signing_domain_for

SPF_INCLUDE = "spf.test-mandant.example"


@pytest.fixture(autouse=True)
def _sending_settings(settings):  # type: ignore[no-untyped-def]
    settings.SENDING_SPF_INCLUDE = SPF_INCLUDE
    settings.SENDING_DKIM_SELECTOR_PREFIX = "mandant"
    settings.SENDING_DNS_TIMEOUT = 1.0


@pytest.fixture
def carl(world) -> Actor:  # type: ignore[no-untyped-def]
    return Actor(user=world.carl)


@pytest.fixture(scope="module")
def shared_key_pair():  # type: ignore[no-untyped-def]
    """One generated key pair for the tests that do not test key generation (1 s each)."""
    from mandant.sending.dkim_keys import generate_key_pair

    return generate_key_pair()


@pytest.fixture
def fast_keys(monkeypatch, shared_key_pair):  # type: ignore[no-untyped-def]
    monkeypatch.setattr(services, "generate_key_pair", lambda: shared_key_pair)
    return shared_key_pair


def add_domain(world, actor: Actor, name: str = "news.kunde-eins.example") -> SendingDomain:  # type: ignore[no-untyped-def]
    with scope(tenant=world.kunde1.pk):
        return services.domain_add(actor=actor, tenant=world.kunde1, domain=name)


def publish(server, row: SendingDomain) -> None:  # type: ignore[no-untyped-def]
    for record in domain_records(row):
        server.set_txt(record.name, record.value)


def use_dns(settings, server) -> None:  # type: ignore[no-untyped-def]
    settings.SENDING_DNS_NAMESERVERS = [f"127.0.0.1:{server.port}"]


# --- keys and records --------------------------------------------------------------------


def test_adding_a_domain_generates_a_2048_bit_key_and_shows_three_records(world, carl):
    row = add_domain(world, carl, "  News.Kunde-Eins.Example. ")
    assert row.domain == "news.kunde-eins.example"
    assert row.status == DomainStatus.PENDING
    assert row.dkim_selector.startswith("mandant") and row.dkim_selector[-4:].isdigit()
    # The private key is stored encrypted, also in the database column itself.
    assert row.dkim_private_key_pem.startswith("enc1:")
    assert "PRIVATE KEY" not in row.dkim_private_key_pem
    # RSA 2048: the DER SubjectPublicKeyInfo is 294 bytes, 392 characters of base64.
    assert len(row.dkim_public_key) == 392
    records = {record.key: record for record in domain_records(row)}
    assert records["spf"].name == "news.kunde-eins.example"
    assert records["spf"].value == f"v=spf1 include:{SPF_INCLUDE} ~all"
    assert records["dkim"].name == f"{row.dkim_selector}._domainkey.news.kunde-eins.example"
    assert records["dkim"].value == f"v=DKIM1; k=rsa; p={row.dkim_public_key}"
    assert records["dmarc"].name == "_dmarc.news.kunde-eins.example"
    assert records["dmarc"].value.startswith("v=DMARC1; p=none; rua=mailto:dmarc@")
    entry = AuditEntry.objects.get(action="sending.domain_add")
    assert entry.tenant_id == world.kunde1.pk and entry.actor_id == world.carl.pk
    # Another domain gets its own key.
    other = add_domain(world, carl, "mail.kunde-eins.example")
    assert other.dkim_public_key != row.dkim_public_key


def test_idn_domains_are_stored_in_their_ascii_form(world, carl, fast_keys):
    row = add_domain(world, carl, "Bücher.example")
    assert row.domain == "xn--bcher-kva.example"


@pytest.mark.parametrize(
    "bad", ["", "localhost", "news@kunde.example", "-bad-.example", "a..b.example", "1.2.3.4"]
)
def test_bad_domains_are_refused(world, carl, fast_keys, bad):
    with pytest.raises(ValidationError) as exc:
        add_domain(world, carl, bad)
    assert "domain" in exc.value.error_dict
    with scope(tenant=world.kunde1.pk):
        assert SendingDomain.objects.count() == 0


def test_a_domain_is_added_once_per_tenant_but_other_tenants_may_add_it(world, carl, fast_keys):
    add_domain(world, carl, "news.kunde-eins.example")
    with pytest.raises(ValidationError):
        add_domain(world, carl, "NEWS.kunde-eins.example")
    with scope(tenant=world.fremd.pk):
        services.domain_add(
            actor=Actor(user=world.eve), tenant=world.fremd, domain="news.kunde-eins.example"
        )


def test_only_administrators_manage_domains(world, fast_keys):
    paula = Actor(user=world.paula)  # Customer Service, inherited from the partner
    with pytest.raises(PermissionDenied):
        add_domain(world, paula)


# --- the DNS check -------------------------------------------------------------------------


def test_check_against_a_real_dns_server_verifies_when_all_three_records_are_right(
    world, carl, fast_keys, settings
):
    row = add_domain(world, carl)
    with fake_dns() as server:
        use_dns(settings, server)
        with scope(tenant=world.kunde1.pk):
            checked = services.domain_check(actor=carl, tenant=world.kunde1, sending_domain=row)
        assert checked.status == DomainStatus.PENDING
        assert {key: r["status"] for key, r in checked.check_results.items()} == {
            "spf": "missing",
            "dkim": "missing",
            "dmarc": "missing",
        }
        publish(server, row)
        with scope(tenant=world.kunde1.pk):
            checked = services.domain_check(actor=carl, tenant=world.kunde1, sending_domain=row)
        assert server.queries, "the resolver asked our server"
    assert checked.status == DomainStatus.VERIFIED
    assert checked.verified_by == world.carl and checked.verified_at is not None
    assert not checked.verified_without_dns
    assert checked.checked_at is not None
    assert all(r["status"] == "ok" for r in checked.check_results.values())
    # The DKIM value (longer than 255 bytes) came back in several strings and was joined.
    assert checked.check_results["dkim"]["found"] == [f"v=DKIM1; k=rsa; p={row.dkim_public_key}"]
    assert AuditEntry.objects.filter(action="sending.domain_check").count() == 2


def test_wrong_records_are_reported_with_what_was_found(world, carl, fast_keys, settings):
    row = add_domain(world, carl)
    records = {record.key: record for record in domain_records(row)}
    with fake_dns() as server:
        use_dns(settings, server)
        server.set_txt(row.domain, "v=spf1 include:_spf.google.com ~all", "google-site=abc")
        server.set_txt(records["dkim"].name, "v=DKIM1; k=rsa; p=MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8")
        server.set_txt(records["dmarc"].name, "v=DMARC1; p=reject")
        with scope(tenant=world.kunde1.pk):
            checked = services.domain_check(actor=carl, tenant=world.kunde1, sending_domain=row)
    results = checked.check_results
    assert results["spf"]["status"] == "wrong"
    assert "v=spf1 include:_spf.google.com ~all" in results["spf"]["found"]
    assert results["dkim"]["status"] == "wrong"
    assert results["dmarc"]["status"] == "ok"
    assert checked.status == DomainStatus.PENDING


def test_an_existing_spf_record_that_also_includes_ours_is_fine(world, carl, fast_keys):
    row = add_domain(world, carl)
    records = {record.key: record for record in domain_records(row)}
    answers = {
        row.domain: [f"v=spf1 mx include:_spf.google.com include:{SPF_INCLUDE} -all"],
        records["dkim"].name: [records["dkim"].value.replace("; ", ";  ")],
        records["dmarc"].name: ["v=DMARC1; p=quarantine; pct=100"],
    }
    with scope(tenant=world.kunde1.pk):
        checked = services.domain_check(
            actor=carl,
            tenant=world.kunde1,
            sending_domain=row,
            resolve=lambda name: answers.get(name, []),
        )
    assert checked.status == DomainStatus.VERIFIED


def test_two_spf_records_are_wrong(world, carl, fast_keys):
    row = add_domain(world, carl)
    spf = f"v=spf1 include:{SPF_INCLUDE} ~all"
    with scope(tenant=world.kunde1.pk):
        checked = services.domain_check(
            actor=carl,
            tenant=world.kunde1,
            sending_domain=row,
            resolve=lambda name: [spf, "v=spf1 -all"] if name == row.domain else [],
        )
    assert checked.check_results["spf"]["status"] == "wrong"


def test_a_failing_lookup_is_an_error_not_a_missing_record(world, carl, fast_keys):
    row = add_domain(world, carl)

    def broken(name: str) -> list[str]:
        raise DnsLookupError("timeout")

    with scope(tenant=world.kunde1.pk):
        checked = services.domain_check(
            actor=carl, tenant=world.kunde1, sending_domain=row, resolve=broken
        )
    assert {r["status"] for r in checked.check_results.values()} == {"error"}
    assert checked.status == DomainStatus.PENDING


def test_an_unreachable_nameserver_is_an_error_within_the_timeout(world, carl, fast_keys, settings):
    import socket
    import time

    silent = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    silent.bind(("127.0.0.1", 0))  # receives, never answers
    settings.SENDING_DNS_NAMESERVERS = [f"127.0.0.1:{silent.getsockname()[1]}"]
    settings.SENDING_DNS_TIMEOUT = 0.3
    row = add_domain(world, carl)
    started = time.monotonic()
    try:
        with scope(tenant=world.kunde1.pk):
            checked = services.domain_check(actor=carl, tenant=world.kunde1, sending_domain=row)
    finally:
        silent.close()
    assert time.monotonic() - started < 3
    assert {r["status"] for r in checked.check_results.values()} == {"error"}


def test_a_verified_domain_whose_records_disappear_is_pending_again(world, carl, fast_keys):
    row = add_domain(world, carl)
    published = {r.name: [r.value] for r in domain_records(row)}
    with scope(tenant=world.kunde1.pk):
        row = services.domain_check(
            actor=carl,
            tenant=world.kunde1,
            sending_domain=row,
            resolve=lambda name: published.get(name, []),
        )
        assert row.is_verified
        row = services.domain_check(
            actor=carl, tenant=world.kunde1, sending_domain=row, resolve=lambda name: []
        )
    assert row.status == DomainStatus.PENDING and row.verified_at is None


# --- verification without DNS (operators) ---------------------------------------------------


def test_only_operators_verify_without_dns_and_it_is_audited(world, carl, fast_keys):
    row = add_domain(world, carl)
    with scope(tenant=world.kunde1.pk):
        with pytest.raises(PermissionDenied):
            services.domain_verify_without_dns(actor=carl, tenant=world.kunde1, sending_domain=row)
        with pytest.raises(PermissionDenied):
            services.domain_verify_without_dns(
                actor=Actor(user=world.paula), tenant=world.kunde1, sending_domain=row
            )
        row.refresh_from_db()
        assert row.status == DomainStatus.PENDING
        row = services.domain_verify_without_dns(
            actor=Actor(user=world.olga), tenant=world.kunde1, sending_domain=row
        )
        assert row.status == DomainStatus.VERIFIED and row.verified_without_dns
        assert row.verified_by == world.olga
        # A later DNS check with nothing published keeps it verified (a test system).
        row = services.domain_check(
            actor=carl, tenant=world.kunde1, sending_domain=row, resolve=lambda name: []
        )
        assert row.status == DomainStatus.VERIFIED and row.verified_without_dns
    entry = AuditEntry.objects.get(action="sending.domain_verify_without_dns")
    assert entry.actor_id == world.olga.pk and entry.tenant_id == world.kunde1.pk
    assert entry.changes["verified_without_dns"] == [False, True]


def test_the_operator_button_is_shown_to_operators_only(world, carl, fast_keys):
    row = add_domain(world, carl)
    url = f"/t/{world.kunde1.slug}/setup/sending/"
    page = world.client_for(world.carl).get(url).content.decode()
    assert 'data-testid="verify-without-dns"' not in page
    page = world.client_for(world.olga).get(url).content.decode()
    assert 'data-testid="verify-without-dns"' in page
    action = f"{url}domains/{row.pk}/verify-without-dns/"
    assert world.client_for(world.carl).post(action).status_code == 403
    response = world.client_for(world.olga).post(action)
    assert response.status_code == 302
    row.refresh_from_db()
    assert row.verified_without_dns


# --- DKIM signing ---------------------------------------------------------------------------


def test_a_signed_message_verifies_with_dkimpy_against_the_published_record(world, carl):
    row = add_domain(world, carl)
    record = {r.key: r for r in domain_records(row)}["dkim"]
    message = (
        b"From: Kunde Eins <news@news.kunde-eins.example>\r\n"
        b"To: anna@example.org\r\n"
        b"Subject: =?utf-8?q?Gr=C3=BC=C3=9Fe?=\r\n"
        b"Message-ID: <1@news.kunde-eins.example>\r\n"
        b"List-Unsubscribe: <https://mandant.example/u/abc>\r\n"
        b"List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n"
        b"MIME-Version: 1.0\r\n"
        b"Content-Type: text/plain; charset=utf-8\r\n"
        b"\r\n"
        b"Hallo Anna,\r\nviele Gr\xc3\xbc\xc3\x9fe.\r\n"
    )
    signed = dkim_sign(message, row)
    assert signed.startswith(b"DKIM-Signature:")
    header = signed.split(b"\r\n\r\n")[0].lower()
    assert b"list-unsubscribe" in header and b"list-unsubscribe-post" in header

    def dnsfunc(name: bytes, timeout: int = 5) -> bytes:
        assert name.decode().rstrip(".") == record.name
        return record.value.encode()

    assert dkim.verify(signed, dnsfunc=dnsfunc)
    # A changed body or subject no longer verifies.
    assert not dkim.verify(signed.replace(b"Hallo Anna", b"Hallo Bert"), dnsfunc=dnsfunc)
    assert not dkim.verify(signed.replace(b"Gr=C3=BC", b"Gr=C3=BD"), dnsfunc=dnsfunc)


def test_the_pipeline_finds_the_signing_domain_only_when_verified(world, carl, fast_keys):
    row = add_domain(world, carl)
    with scope(tenant=world.kunde1.pk):
        assert signing_domain_for(world.kunde1, "news@news.kunde-eins.example") is None
        services.domain_verify_without_dns(
            actor=Actor(user=world.olga), tenant=world.kunde1, sending_domain=row
        )
        assert signing_domain_for(world.kunde1, "News@NEWS.kunde-eins.example") == row
    with scope(tenant=world.fremd.pk):
        assert signing_domain_for(world.fremd, "news@news.kunde-eins.example") is None


# --- sender identities ----------------------------------------------------------------------


def test_sender_identity_must_use_one_of_the_tenants_domains(world, carl, fast_keys):
    add_domain(world, carl)
    with scope(tenant=world.fremd.pk):
        services.domain_add(actor=Actor(user=world.eve), tenant=world.fremd, domain="fremd.example")
    with scope(tenant=world.kunde1.pk):
        for address in ("news@fremd.example", "news@kunde-eins.example", "not an address", ""):
            with pytest.raises(ValidationError) as exc:
                services.sender_identity_create(
                    actor=carl, tenant=world.kunde1, from_address=address
                )
            assert "from_address" in exc.value.error_dict
        identity = services.sender_identity_create(
            actor=carl,
            tenant=world.kunde1,
            from_address="News@News.Kunde-Eins.example",
            reply_to="Service@Kunde-Eins.example",
        )
        # The alias defaults to the tenant's name; the domain part is normalised.
        assert identity.alias == "Kunde Eins"
        assert identity.from_address == "news@news.kunde-eins.example"
        assert identity.reply_to == "service@kunde-eins.example"
        with pytest.raises(ValidationError):
            services.sender_identity_create(
                actor=carl, tenant=world.kunde1, from_address="NEWS@news.kunde-eins.example"
            )
        with pytest.raises(ValidationError) as exc:
            services.sender_identity_create(
                actor=carl,
                tenant=world.kunde1,
                from_address="info@news.kunde-eins.example",
                reply_to="kaputt@",
            )
        assert "reply_to" in exc.value.error_dict
        updated = services.sender_identity_update(
            actor=carl,
            tenant=world.kunde1,
            identity=identity,
            from_address="info@news.kunde-eins.example",
            alias="Kunde Eins Newsletter",
        )
        assert updated.alias == "Kunde Eins Newsletter" and updated.reply_to == ""
        assert SenderIdentity.objects.count() == 1
        # A domain in use cannot be removed.
        with pytest.raises(ValidationError):
            services.domain_remove(actor=carl, tenant=world.kunde1, sending_domain=identity.domain)
        services.sender_identity_delete(actor=carl, tenant=world.kunde1, identity=updated)
        services.domain_remove(actor=carl, tenant=world.kunde1, sending_domain=identity.domain)
        assert SendingDomain.objects.count() == 0


def test_the_sending_page_adds_domains_identities_and_the_address(world, fast_keys):
    client = world.client_for(world.carl)
    url = f"/t/{world.kunde1.slug}/setup/sending/"
    page = client.get(url)
    assert page.status_code == 200 and b'data-testid="no-domains"' in page.content
    bad = client.post(url + "domains/", {"domain": "not a domain"})
    assert bad.status_code == 422 and b'value="not a domain"' in bad.content
    assert client.post(url + "domains/", {"domain": "news.kunde-eins.example"}).status_code == 302
    page = client.get(url).content.decode()
    assert "news.kunde-eins.example" in page
    assert f"v=spf1 include:{SPF_INCLUDE} ~all" in page
    assert "._domainkey.news.kunde-eins.example" in page
    assert "_dmarc.news.kunde-eins.example" in page
    bad = client.post(
        url + "identities/", {"from_address": "x@elsewhere.example", "alias": "Mein Alias"}
    )
    assert bad.status_code == 422
    assert b'value="x@elsewhere.example"' in bad.content and b'value="Mein Alias"' in bad.content
    ok = client.post(url + "identities/", {"from_address": "news@news.kunde-eins.example"})
    assert ok.status_code == 302
    bad = client.post(url + "postal-address/", {"company_name": "Kunde Eins GmbH", "country": "X"})
    assert bad.status_code == 422 and b'value="Kunde Eins GmbH"' in bad.content
    ok = client.post(
        url + "postal-address/",
        {
            "company_name": "Kunde Eins GmbH",
            "street": "Hauptstraße 1",
            "postal_code": "10115",
            "city": "Berlin",
            "country": "de",
        },
    )
    assert ok.status_code == 302
    page = client.get(url).content.decode()
    assert "Kunde Eins GmbH, Hauptstraße 1, 10115 Berlin, DE" in page
    assert 'data-address="news@news.kunde-eins.example"' in page
    # A viewer sees the page but no forms, and may not post.
    from mandant.accounts.roles import Role
    from mandant.accounts.services import membership_set, user_create

    viewer = user_create(email="vera@kunde-eins.example", password="x" * 20)
    membership_set(actor=Actor(user=world.olga), tenant=world.kunde1, user=viewer, role=Role.VIEWER)
    vclient = world.client_for(viewer)
    page = vclient.get(url).content.decode()
    assert "news.kunde-eins.example" in page and 'data-testid="check-dns"' not in page
    assert vclient.post(url + "domains/", {"domain": "x.example"}).status_code == 403
