"""DKIM signing with OpenSSL (``cryptography``) checked by an independent verifier (dkimpy),
and the DKIM private keys encrypted at rest (key derivation, rotation, migration, nothing
shows the key)."""

import re
import time
from collections.abc import Callable
from email.utils import formatdate

import dkim
import pytest
from django.core.management import call_command
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django_scopes import scope
from tests.user_support import Api

from mandant.audit.models import AuditEntry
from mandant.core.actor import Actor
from mandant.sending import dkim_keys, key_sealing, services
from mandant.sending.dkim_keys import (
    DkimKeyError,
    clear_signer_cache,
    dkim_sign,
    relaxed_body,
    relaxed_header,
    signer_for,
)
from mandant.sending.models import SendingDomain
from mandant.sending.selectors import domain_records

DOMAIN = "news.kunde-eins.example"


@pytest.fixture(autouse=True)
def _fresh_signers():  # type: ignore[no-untyped-def]
    clear_signer_cache()
    yield
    clear_signer_cache()


@pytest.fixture
def row(world) -> SendingDomain:  # type: ignore[no-untyped-def]
    with scope(tenant=world.kunde1.pk):
        return services.domain_add(actor=Actor(user=world.carl), tenant=world.kunde1, domain=DOMAIN)


def dns_for(domain: SendingDomain) -> Callable[..., bytes | None]:
    record = {r.key: r for r in domain_records(domain)}["dkim"]

    def dnsfunc(name: bytes, timeout: int = 5) -> bytes | None:
        return record.value.encode() if name.decode().rstrip(".") == record.name else None

    return dnsfunc


def message(
    *,
    charset: str = "utf-8",
    subject: bytes = b"=?utf-8?q?Gr=C3=BC=C3=9Fe?=",
    body: bytes = b"Hallo Anna,\r\nviele Gr\xc3\xbc\xc3\x9fe.\r\n",
    extra_head: bytes = b"",
) -> bytes:
    return (
        b"From: Kunde Eins <news@" + DOMAIN.encode() + b">\r\n"
        b"Reply-To: service@kunde-eins.example\r\n"
        b"MIME-Version: 1.0\r\n"
        b"List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n"
        b"Content-Type: text/plain; charset=" + charset.encode() + b"\r\n"
        b"Content-Transfer-Encoding: 8bit\r\n"
        b"To: anna@example.org\r\n"
        b"Subject: " + subject + b"\r\n"
        b"Date: " + formatdate(usegmt=True).encode() + b"\r\n"
        b"Message-ID: <1@" + DOMAIN.encode() + b">\r\n"
        b"List-Unsubscribe: <https://mandant.example/u/abc/>\r\n" + extra_head + b"\r\n" + body
    )


def signature_header(signed: bytes) -> bytes:
    head = signed.split(b"\r\n\r\n", 1)[0]
    return head.split(b"\r\nFrom:", 1)[0]


def tags(header: bytes) -> dict[str, str]:
    value = header.decode().split(":", 1)[1]
    return {
        name.strip(): re.sub(r"\s+", "", content)
        for name, _, content in (part.partition("=") for part in value.split(";") if part.strip())
    }


# --- signatures that verify ------------------------------------------------------------------


def test_a_utf8_message_verifies_and_the_header_has_every_tag(row):
    signed = dkim_sign(message(), row)
    assert dkim.verify(signed, dnsfunc=dns_for(row))
    header = signature_header(signed)
    assert header.startswith(b"DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed;")
    found = tags(header)
    assert found["d"] == DOMAIN and found["s"] == row.dkim_selector
    assert abs(int(found["t"]) - time.time()) < 60
    # Every present header of the fixed set, in that order, and From once more (oversigned).
    assert found["h"].split(":") == [
        "from",
        "to",
        "subject",
        "date",
        "message-id",
        "reply-to",
        "mime-version",
        "content-type",
        "content-transfer-encoding",
        "list-unsubscribe",
        "list-unsubscribe-post",
        "from",
    ]
    assert len(found["bh"]) == 44 and len(found["b"]) == 344
    # Folded: no line longer than 78 columns, continuation lines start with a space.
    lines = header.split(b"\r\n")
    assert len(lines) > 3
    assert all(len(line) <= 78 for line in lines)
    assert all(line.startswith(b" ") for line in lines[1:])


@pytest.mark.parametrize(
    "subject",
    [b"Hi", b"=?utf-8?q?Gr=C3=BC=C3=9Fe_aus_dem_Norden_und_noch_viel_mehr?=\r\n =?utf-8?q?_Text?="],
)
def test_a_prepared_signer_signs_exactly_as_the_generic_one(row, subject):
    """A campaign signs with the shared header fields canonicalised once (PreparedSigner);
    for the same message and time it writes the very same header, which verifies."""
    whole = message(subject=subject)
    head, _sep, body = whole.partition(b"\r\n\r\n")
    lines = [line + b"\r\n" for line in re.split(rb"\r\n(?![ \t])", head)]
    personal_names = (b"to", b"subject", b"date", b"message-id", b"list-unsubscribe")
    shared = b"".join(line for line in lines if line.split(b":")[0].lower() not in personal_names)
    personal = {
        line.split(b":")[0].lower(): line.split(b":", 1)[1].removesuffix(b"\r\n")
        for line in lines
        if line.split(b":")[0].lower() in personal_names
    }
    signer = signer_for(row)
    header = signer.prepared(shared, personal_names).signature(personal, body, 1_700_000_000)
    generic = signer.sign(whole, timestamp=1_700_000_000)
    assert generic == header + whole
    assert dkim.verify(header + whole, dnsfunc=dns_for(row))


def test_only_present_headers_are_signed(row):
    bare = (
        b"From: news@" + DOMAIN.encode() + b"\r\nTo: anna@example.org\r\nSubject: Hi\r\n\r\nHi\r\n"
    )
    signed = dkim_sign(bare, row)
    assert tags(signature_header(signed))["h"] == "from:to:subject:from"
    assert dkim.verify(signed, dnsfunc=dns_for(row))


def test_an_iso_8859_15_message_verifies(row):
    body = "Grüße, Anna: 10 € für Dich. Œuvre\r\n".encode("iso-8859-15")
    assert b"\xa4" in body  # the euro sign, 8-bit
    signed = dkim_sign(
        message(charset="iso-8859-15", subject=b"=?iso-8859-15?q?Gr=FC=DFe_=A4?=", body=body),
        row,
    )
    assert dkim.verify(signed, dnsfunc=dns_for(row))
    assert not dkim.verify(signed.replace(b"10 \xa4", b"20 \xa4"), dnsfunc=dns_for(row))


def test_folded_headers_with_extra_whitespace_verify(row):
    data = (
        b"fRoM:   Kunde  Eins\t <news@" + DOMAIN.encode() + b">  \r\n"
        b"To:\tanna@example.org ,\r\n\t bert@example.org\t\r\n"
        b"Subject:  Viele   Gr\xc3\xbc\xc3\x9fe \r\n   aus\r\n\tM\xc3\xbcnchen  \r\n"
        b"Content-Type: text/plain;\r\n  charset=utf-8\r\n"
        b"X-Not-Signed: a    b\r\n"
        b"\r\nHallo\r\n"
    )
    signed = dkim_sign(data, row)
    assert dkim.verify(signed, dnsfunc=dns_for(row))
    assert tags(signature_header(signed))["h"] == "from:to:subject:content-type:from"
    # Relaxed: re-folding and whitespace changes in a signed header still verify …
    refolded = signed.replace(b"Subject:  Viele   Gr", b"Subject: Viele\r\n Gr")
    assert refolded != signed and dkim.verify(refolded, dnsfunc=dns_for(row))
    # … a changed word does not.
    assert not dkim.verify(signed.replace(b"\tM\xc3\xbcnchen", b"\tBerlin"), dnsfunc=dns_for(row))


def test_trailing_whitespace_and_empty_lines_in_the_body_verify(row):
    body = b"Hallo  \t Anna \r\n\r\n zweite\tZeile\t\r\n\r\n  \r\n\t\r\n\r\n"
    signed = dkim_sign(message(body=body), row)
    assert dkim.verify(signed, dnsfunc=dns_for(row))
    # Relaxed body: whitespace runs, line-end whitespace and trailing empty lines do not count.
    relaxed_same = signed.replace(b"Hallo  \t Anna \r\n", b"Hallo Anna\r\n") + b"\r\n\r\n"
    assert dkim.verify(relaxed_same, dnsfunc=dns_for(row))
    # Whitespace between words that was not there before does.
    assert not dkim.verify(
        signed.replace(b"zweite\tZeile", b"zwei te\tZeile"), dnsfunc=dns_for(row)
    )


def test_an_empty_body_and_a_body_without_final_crlf_verify(row):
    for body in (b"", b"\r\n\r\n", b"Ende ohne Zeilenumbruch  "):
        signed = dkim_sign(message(body=body), row)
        assert dkim.verify(signed, dnsfunc=dns_for(row)), body
    # Without a final CRLF the message gets one, as SMTP DATA would add it after signing.
    assert dkim_sign(message(body=b"Ende"), row).endswith(b"\r\n\r\nEnde\r\n")


def test_bare_line_feeds_are_made_crlf_before_signing(row):
    data = message().replace(b"\r\n", b"\n")
    signed = dkim_sign(data, row)
    assert b"\n" not in signed.replace(b"\r\n", b"")
    assert dkim.verify(signed, dnsfunc=dns_for(row))


def test_canonicalisation_matches_rfc_6376_examples():
    # RFC 6376 §3.4.5.
    assert relaxed_header(b"A", b" X\r\n") == b"a:X"
    assert relaxed_header(b"B ", b" Y\t\r\n\tZ  ") == b"b:Y Z"
    assert relaxed_body(b" C \r\nD \t E\r\n\r\n\r\n") == b" C\r\nD E\r\n"
    assert relaxed_body(b"") == b"" and relaxed_body(b"\r\n\r\n") == b""


# --- tampering -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("old", "new"),
    [
        (b"Hallo Anna", b"Hallo Bert"),  # body
        (b"Gr=C3=BC=C3=9Fe", b"Gr=C3=BD=C3=9Fe"),  # subject
        (b"To: anna@example.org", b"To: bert@example.org"),
        (b"/u/abc/", b"/u/abd/"),  # List-Unsubscribe
        (b"One-Click", b"Two-Click"),
        (b"From: Kunde Eins", b"From: Kunde Zwei"),
    ],
)
def test_a_changed_body_or_signed_header_fails(row, old, new):
    signed = dkim_sign(message(), row)
    tampered = signed.replace(old, new)
    assert tampered != signed
    assert not dkim.verify(tampered, dnsfunc=dns_for(row))


def test_an_added_second_from_fails_and_an_unsigned_header_does_not_matter(row):
    signed = dkim_sign(message(), row)
    head, body = signed.split(b"\r\n\r\n", 1)
    spoofed = head + b"\r\nFrom: ceo@bank.example" + b"\r\n\r\n" + body
    assert not dkim.verify(spoofed, dnsfunc=dns_for(row))
    received = b"Received: from relay.example by mx.example\r\n" + signed
    assert dkim.verify(received, dnsfunc=dns_for(row))


def test_another_domains_key_does_not_verify(world, row):
    with scope(tenant=world.kunde1.pk):
        other = services.domain_add(
            actor=Actor(user=world.carl), tenant=world.kunde1, domain="mail.kunde-eins.example"
        )
    signed = dkim_sign(message(), row)

    def other_key(name: bytes, timeout: int = 5) -> bytes:
        return dkim_keys.dkim_dns_value(other.dkim_public_key).encode()

    assert dkim.verify(signed, dnsfunc=dns_for(row))
    assert not dkim.verify(signed, dnsfunc=other_key)


# --- the signer: loaded once per key ---------------------------------------------------------


def test_the_key_is_loaded_once_per_domain_key(world, row, monkeypatch):
    loads: list[int] = []
    real = dkim_keys._load_signer
    monkeypatch.setattr(dkim_keys, "_load_signer", lambda d: loads.append(d.pk) or real(d))
    first = signer_for(row)
    with scope(tenant=world.kunde1.pk):
        again = SendingDomain.objects.get(pk=row.pk)
    assert signer_for(again) is first and signer_for(row) is first
    assert loads == [row.pk]
    # A new key for the domain (another stored value) is loaded afresh.
    fresh = dkim_keys.generate_key_pair()
    with scope(tenant=world.kunde1.pk):
        SendingDomain.objects.filter(pk=row.pk).update(
            dkim_private_key_pem=fresh.private_key_pem, dkim_public_key=fresh.public_key_b64
        )
        renewed = SendingDomain.objects.get(pk=row.pk)
    assert signer_for(renewed) is not first and loads == [row.pk, row.pk]
    assert dkim.verify(dkim_sign(message(), renewed), dnsfunc=dns_for(renewed))


def test_a_broken_key_is_a_clear_error_without_key_material(row):
    row.dkim_private_key_pem = key_sealing.seal("-----BEGIN PRIVATE KEY-----\nAAAA\n")
    with pytest.raises(DkimKeyError) as error:
        dkim_sign(message(), row)
    assert DOMAIN in str(error.value) and "AAAA" not in str(error.value)


# --- encrypted at rest -----------------------------------------------------------------------


def raw_column(pk: int) -> str:
    table = SendingDomain._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT dkim_private_key_pem FROM {table} WHERE id = %s", [pk])  # noqa: S608
        return str(cursor.fetchone()[0])


def test_the_private_key_is_encrypted_in_the_database(row):
    stored = raw_column(row.pk)
    assert stored.startswith("enc1:") and "PRIVATE KEY" not in stored
    assert row.dkim_private_key_pem == stored
    assert key_sealing.unseal(stored).startswith("-----BEGIN PRIVATE KEY-----")
    # Also what an update() writes in plain text is encrypted on the way.
    pem = key_sealing.unseal(stored)
    with scope(tenant=row.tenant_id):
        SendingDomain.objects.filter(pk=row.pk).update(dkim_private_key_pem=pem)
    assert raw_column(row.pk).startswith("enc1:") and raw_column(row.pk) != stored
    assert key_sealing.unseal(raw_column(row.pk)) == pem


def test_the_encryption_key_is_derived_for_this_purpose(settings):
    sealed = key_sealing.seal("geheim")
    assert "geheim" not in sealed and key_sealing.unseal(sealed) == "geheim"
    # Not Fernet keyed with the raw secret key: a key derived with HKDF and a label.
    from cryptography.fernet import Fernet, InvalidToken

    raw = Fernet(__import__("base64").urlsafe_b64encode(settings.SECRET_KEY.encode()[:32]))
    with pytest.raises(InvalidToken):
        raw.decrypt(sealed.removeprefix("enc1:").encode())
    with pytest.raises(key_sealing.KeyUnavailable):
        key_sealing.unseal("-----BEGIN PRIVATE KEY-----")


def test_rotating_the_secret_key_with_fallbacks_keeps_signing(settings, row):
    old_secret = settings.SECRET_KEY
    settings.SECRET_KEY = "a-completely-new-secret-key-for-the-rotation-test-0123456789"
    # Without the old key in the fallbacks the DKIM key is lost: a clear error.
    settings.SECRET_KEY_FALLBACKS = []
    with pytest.raises(DkimKeyError):
        dkim_sign(message(), row)
    settings.SECRET_KEY_FALLBACKS = [old_secret]
    assert dkim.verify(dkim_sign(message(), row), dnsfunc=dns_for(row))
    # Re-encrypting with the new key; afterwards the fallback can go.
    before = raw_column(row.pk)
    call_command("dkim_reencrypt_keys", verbosity=0)
    after = raw_column(row.pk)
    assert after != before and after.startswith("enc1:")
    assert AuditEntry.objects.filter(action="sending.dkim_keys_reencrypt").count() == 1
    settings.SECRET_KEY_FALLBACKS = []
    clear_signer_cache()
    with scope(tenant=row.tenant_id):
        reloaded = SendingDomain.objects.get(pk=row.pk)
    assert dkim.verify(dkim_sign(message(), reloaded), dnsfunc=dns_for(reloaded))


def test_the_data_migration_encrypts_and_decrypts_existing_rows(row):
    from importlib import import_module

    migration = import_module("mandant.sending.migrations.0002_dkim_private_key_encrypted")
    pem = key_sealing.unseal(row.dkim_private_key_pem)
    # The model as it was before the migration: a plain text column.
    old_apps = MigrationExecutor(connection).loader.project_state(("sending", "0001_initial")).apps

    class Editor:
        pass

    editor = Editor()
    editor.connection = connection  # type: ignore[attr-defined]
    migration.decrypt_keys(old_apps, editor)
    assert raw_column(row.pk) == pem
    migration.encrypt_keys(old_apps, editor)
    stored = raw_column(row.pk)
    assert stored.startswith("enc1:") and key_sealing.unseal(stored) == pem
    migration.encrypt_keys(old_apps, editor)  # idempotent: nothing is encrypted twice
    assert raw_column(row.pk) == stored


# --- nothing shows the key -------------------------------------------------------------------


def test_admin_api_audit_and_reprs_never_show_the_key(world, row):
    pem = key_sealing.unseal(row.dkim_private_key_pem)
    secret_parts = [pem.splitlines()[1], row.dkim_private_key_pem[5:40]]
    client = world.client_for(world.olga)
    pages = [
        client.get("/admin/sending/sendingdomain/"),
        client.get(f"/admin/sending/sendingdomain/{row.pk}/change/"),
    ]
    api = Api(world.api_key(world.olga, world.kunde1))
    pages.append(api.get(f"/tenants/{world.kunde1.pk}/sending-domains"))
    for page in pages:
        assert page.status_code == 200
        text = page.content.decode()
        assert DOMAIN in text
        assert all(part not in text for part in secret_parts)
        assert "PRIVATE KEY" not in text and "enc1:" not in text
    for entry in AuditEntry.objects.all():
        assert "enc1:" not in str(entry.changes) and "PRIVATE" not in str(entry.changes)
    shown = repr(dkim_keys.generate_key_pair()) + repr(signer_for(row))
    assert "PRIVATE" not in shown and "private_key" not in shown
