"""CSV import: mapping, charsets, errors by line, duplicates, all-or-nothing, streaming.

The streaming tests shrink ``READ_CHUNK`` (bytes read from the stored file at a time) and
``BATCH`` (rows per upsert) so that chunk and batch boundaries fall inside small files."""

import io
import tracemalloc
from datetime import timedelta
from importlib import import_module

import pytest
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.db.models.functions import Length
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from django_scopes import scope, scopes_disabled

from import_support import queued_import
from mandant.accounts.roles import Role
from mandant.accounts.services import membership_set, user_create
from mandant.contacts import importing
from mandant.contacts.models import (
    ConsentRecord,
    Contact,
    ContactList,
    ImportFile,
    ImportFileChunk,
    ListMembership,
)
from mandant.contacts.normalize import normalize_email
from mandant.contacts.services import contact_create, list_add_members, list_create
from mandant.core.actor import Actor, RoleGrant
from mandant.jobs.models import Job, JobStatus


def upload(tenant, text: str, encoding: str = "utf-8"):  # type: ignore[no-untyped-def]
    return importing.upload_create(tenant=tenant, name="c.csv", data=text.encode(encoding))


def run(world, tenant, kept, mapping=None, keep_valid=False, list_id=None):  # type: ignore[no-untyped-def]
    header, _p = importing.header_and_preview(kept)
    job = importing.import_start(
        actor=Actor(user=world.paula),
        tenant=tenant,
        grant=RoleGrant(role=Role.CUSTOMER_SERVICE, source=world.alpha),
        upload=kept,
        mapping=mapping if mapping is not None else importing.guess_mapping(header),
        keep_valid=keep_valid,
        list_id=list_id,
    )
    return importing.import_job_run(job_id=job.pk)


def contacts(tenant) -> dict[str, Contact]:  # type: ignore[no-untyped-def]
    with scope(tenant=tenant.pk):
        return {c.email: c for c in Contact.objects.filter(tenant=tenant)}


@pytest.mark.django_db(transaction=True)
def test_a_row_with_control_characters_is_invalid_and_the_rest_imported(world):
    # PostgreSQL cannot store NUL at all: the row is refused with its reason, not the job.
    text = (
        "email,first_name,stadt\n"
        "a@x.de,An\x00na,Kiel\n"
        "b@x.de,Bert,Ki\x07el\n"
        'c@x.de,Cäcilie,"Kiel\r\nNord"\n'
    )
    job = run(world, world.kunde1, upload(world.kunde1, text), keep_valid=True)
    assert job.status == JobStatus.DONE, job.error
    assert job.summary["errors"] == [
        [2, "a@x.de", "The row contains control characters (U+0000), which cannot be stored."],
        [3, "b@x.de", "The row contains control characters (U+0007), which cannot be stored."],
    ]
    assert contacts(world.kunde1)["c@x.de"].fields == {"stadt": "Kiel\r\nNord"}
    assert set(contacts(world.kunde1)) == {"c@x.de"}


@pytest.mark.django_db(transaction=True)
def test_an_import_puts_every_imported_contact_on_the_chosen_list_once(world):
    with scope(tenant=world.kunde1.pk):
        target = list_create(actor=None, tenant=world.kunde1, name="Messe 2026")
        known = contact_create(actor=None, tenant=world.kunde1, email="b@x.de")
        list_add_members(
            actor=None, tenant=world.kunde1, contact_list=target, contact_ids=[known.pk]
        )
    text = "email,first_name\na@x.de,Anna\nb@x.de,Bert\nkaputt,Kai\nc@x.de,Cem\n"
    kept = upload(world.kunde1, text)
    job = run(world, world.kunde1, kept, keep_valid=True, list_id=target.pk)
    assert job.status == JobStatus.DONE, job.error
    # Run again (a restarted job): nobody is on the list twice.
    with scopes_disabled():
        Job.objects.filter(pk=job.pk).update(status=JobStatus.QUEUED, finished_at=None)
    assert importing.import_job_run(job_id=job.pk).status == JobStatus.DONE
    with scope(tenant=world.kunde1.pk):
        members = ListMembership.objects.filter(contact_list=target)
        assert sorted(m.contact.email for m in members) == ["a@x.de", "b@x.de", "c@x.de"]


def test_the_list_must_be_the_tenants_and_still_exist(world):
    with scope(tenant=world.kunde2.pk):
        foreign = list_create(actor=None, tenant=world.kunde2, name="Fremd")
    with pytest.raises(ValidationError) as refused:
        run(world, world.kunde1, upload(world.kunde1, "email\na@x.de\n"), list_id=foreign.pk)
    assert refused.value.message_dict == {"list_id": ["Choose a list of this tenant."]}
    with scope(tenant=world.kunde1.pk):
        gone = list_create(actor=None, tenant=world.kunde1, name="Bald weg")
    kept = upload(world.kunde1, "email\na@x.de\n")
    header, _p = importing.header_and_preview(kept)
    job = importing.import_start(
        actor=Actor(user=world.paula),
        tenant=world.kunde1,
        grant=RoleGrant(role=Role.CUSTOMER_SERVICE, source=world.alpha),
        upload=kept,
        mapping=importing.guess_mapping(header),
        list_id=gone.pk,
    )
    with scope(tenant=world.kunde1.pk):
        ContactList.objects.filter(pk=gone.pk).delete()
    job = importing.import_job_run(job_id=job.pk)
    assert job.status == JobStatus.FAILED
    assert job.error == "The list to add the contacts to has been deleted."
    assert contacts(world.kunde1) == {}


def test_the_wizard_offers_the_tenants_lists(world):
    with scope(tenant=world.kunde1.pk):
        target = list_create(actor=None, tenant=world.kunde1, name="Messe 2026")
    client = world.client_for(world.paula)
    kept = upload(world.kunde1, "email\na@x.de\n")
    url = f"/t/{world.kunde1.slug}/contacts/import/{kept.pk}/"
    assert "Messe 2026" in client.get(url).content.decode()
    wrong = client.post(url, {"col0": "email", "list_id": "999999", "action": "start"})
    assert wrong.status_code == 422
    assert "Choose a list of this tenant." in wrong.content.decode()
    response = client.post(url, {"col0": "email", "list_id": str(target.pk), "action": "start"})
    assert response.status_code == 302
    with scopes_disabled():
        job = Job.objects.get(pk=int(response["Location"].rstrip("/").split("/")[-1]))
    assert job.params["list_id"] == target.pk
    page = client.get(response["Location"]).content.decode()
    assert "Messe 2026" not in page  # not done yet: nothing is on the list
    importing.import_job_run(job_id=job.pk)
    page = client.get(response["Location"]).content.decode()
    assert "The imported contacts are on the list" in page and "Messe 2026" in page


def test_mapping_preview_and_custom_fields(world):
    kept = upload(world.kunde1, "Mail;Vorname;Kundennr;Egal\nA@x.de;Anna;17;z\nb@x.de;Bert;18;z\n")
    assert kept.delimiter == ";"
    header, preview = importing.header_and_preview(kept)
    assert header == ["Mail", "Vorname", "Kundennr", "Egal"]
    assert preview[0] == ["A@x.de", "Anna", "17", "z"]
    mapping = {0: "email", 1: "first_name", 2: "field:customer_no", 3: ""}
    job = run(world, world.kunde1, kept, mapping)
    assert job.status == JobStatus.DONE, job.error
    found = contacts(world.kunde1)
    assert found["a@x.de"].first_name == "Anna"
    assert found["a@x.de"].fields == {"customer_no": "17"}
    with scope(tenant=world.kunde1.pk):
        assert ConsentRecord.objects.filter(tenant=world.kunde1, source="import").count() == 2
    assert job.done == job.total == 2


def test_a_mapping_without_email_is_refused(world):
    kept = upload(world.kunde1, "a,b\n1,2\n")
    with pytest.raises(ValidationError):
        importing.clean_mapping({0: "first_name"}, 2)
    with pytest.raises(ValidationError):
        importing.clean_mapping({0: "email", 1: "email"}, 2)
    with pytest.raises(ValidationError):
        importing.clean_mapping({5: "email"}, 2)
    assert kept.delimiter == ","


def test_iso_8859_15_file_for_a_custom_tenant(world):
    assert world.kunde2.charset == "ISO-8859-15"
    text = "email,first_name,last_name\njoerg@x.de,Jörg,Müßig €\n"
    kept = upload(world.kunde2, text, "iso-8859-15")
    assert kept.encoding == "iso-8859-15"
    run(world, world.kunde2, kept)
    contact = contacts(world.kunde2)["joerg@x.de"]
    assert (contact.first_name, contact.last_name) == ("Jörg", "Müßig €")


def test_utf8_with_bom_and_an_excel_file_for_a_utf8_tenant(world):
    kept = importing.upload_create(
        tenant=world.kunde1, name="b.csv", data="\ufeffemail,first_name\nz@x.de,Zoë\n".encode()
    )
    assert kept.encoding == "utf-8-sig"
    run(world, world.kunde1, kept)
    assert contacts(world.kunde1)["z@x.de"].first_name == "Zoë"
    # Not UTF-8: read as Excel writes CSV on Western European systems (Windows-1252).
    excel = upload(world.kunde1, "email,first_name\nm@x.de,Jürgen „Jo“ 5 €\n", "cp1252")
    assert excel.encoding == "cp1252"
    run(world, world.kunde1, excel)
    assert contacts(world.kunde1)["m@x.de"].first_name == "Jürgen „Jo“ 5 €"
    page = world.client_for(world.paula).get(f"/t/kunde-eins/contacts/import/{excel.pk}/")
    assert "Read as Windows-1252 (Excel)" in page.content.decode()
    # Bytes that are neither (0x81 is undefined in Windows-1252): refused, saying what to do.
    with pytest.raises(ValidationError) as refused:
        importing.upload_create(tenant=world.kunde1, name="c.csv", data=b"email\n\x81@x.de\n")
    assert "Save it as UTF-8 CSV" in str(refused.value)


BAD_FILE = "email,first_name\ngood@x.de,Gut\nnot-an-address,Schlecht\n,Leer\nalso@x.de,Auch\n"


def test_all_or_nothing_reports_lines_and_writes_nothing(world):
    job = run(world, world.kunde1, upload(world.kunde1, BAD_FILE))
    assert job.status == JobStatus.FAILED
    assert contacts(world.kunde1) == {}
    lines = [row[0] for row in job.summary["errors"]]
    assert lines == [3, 4]
    assert job.summary["errors"][0][1] == "not-an-address"


def test_keep_valid_imports_the_valid_rows(world):
    job = run(world, world.kunde1, upload(world.kunde1, BAD_FILE), keep_valid=True)
    assert job.status == JobStatus.DONE
    assert sorted(contacts(world.kunde1)) == ["also@x.de", "good@x.de"]
    assert job.summary["invalid"] == 2
    assert [row[0] for row in job.summary["errors"]] == [3, 4]


def test_duplicates_are_merged_last_wins_and_existing_updated(world):
    run(world, world.kunde1, upload(world.kunde1, "email,first_name,plz\nold@x.de,Alt,1\n"))
    text = "email,first_name,last_name\nd@x.de,Erst,A\nD@X.de,Zweit,\nold@x.de,Neu,\n"
    job = run(world, world.kunde1, upload(world.kunde1, text))
    found = contacts(world.kunde1)
    assert sorted(found) == ["d@x.de", "old@x.de"]
    assert (found["d@x.de"].first_name, found["d@x.de"].last_name) == ("Zweit", "A")
    # Updated names, the custom field of the earlier import kept.
    assert found["old@x.de"].first_name == "Neu"
    assert found["old@x.de"].fields == {"plz": "1"}
    assert job.summary["duplicates"] == 1


def test_dry_run_counts_and_writes_nothing(world):
    run(world, world.kunde1, upload(world.kunde1, "email\nexists@x.de\n"))
    kept = upload(world.kunde1, "email\nexists@x.de\nnew@x.de\nnew@x.de\nbroken\n")
    header, _p = importing.header_and_preview(kept)
    with scope(tenant=world.kunde1.pk):
        result = importing.scan(kept, importing.guess_mapping(header))
    assert result.as_dict() == {
        "rows": 4,
        "valid": 3,
        "invalid": 1,
        "new": 1,
        "existing": 1,
        "duplicates": 1,
    }
    assert result.errors[0][0] == 5
    assert sorted(contacts(world.kunde1)) == ["exists@x.de"]


def test_a_short_row_and_an_empty_file(world):
    job = run(
        world,
        world.kunde1,
        upload(world.kunde1, "first_name,email\nNur\nA,a@x.de\n"),
        keep_valid=True,
    )
    assert [row[0] for row in job.summary["errors"]] == [2]
    with pytest.raises(ValidationError):
        importing.upload_create(tenant=world.kunde1, name="e.csv", data=b"")


def test_10000_rows_stream_in_modest_memory(world):
    """Batches of 1,000 rows: the peak stays far below holding every row as objects. (Kept at
    10,000 rows: tracemalloc makes this slow; 100,000 rows peaked under 40 MB in a manual run.)"""
    rows = "\n".join(f"user{i}@example.com,Vorname{i},Name{i}" for i in range(10_000))
    kept = upload(world.kunde1, "email,first_name,last_name\n" + rows + "\n")
    del rows
    tracemalloc.start()
    job = run(world, world.kunde1, kept)
    _current, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert job.status == JobStatus.DONE, job.error
    assert job.done == 10_000
    with scope(tenant=world.kunde1.pk):
        assert Contact.objects.filter(tenant=world.kunde1).count() == 10_000
    # The file itself is ~0.4 MB; 10,000 contacts as model objects would be far more.
    assert peak < 12 * 1024 * 1024, peak


def small_chunks(monkeypatch, size: int) -> None:  # type: ignore[no-untyped-def]
    """Store and read the file ``size`` bytes at a time."""
    monkeypatch.setattr(importing, "READ_CHUNK", size)


def consents(tenant) -> dict[str, int]:  # type: ignore[no-untyped-def]
    """Import consent records per address."""
    with scope(tenant=tenant.pk):
        by_id = {c.pk: c.email for c in Contact.objects.filter(tenant=tenant)}
        counts: dict[str, int] = {}
        for contact_id in ConsentRecord.objects.filter(tenant=tenant, source="import").values_list(
            "contact_id", flat=True
        ):
            counts[by_id[contact_id]] = counts.get(by_id[contact_id], 0) + 1
        return counts


@pytest.mark.parametrize("chunk", [1, 2, 3, 5, 1024 * 1024])
def test_multibyte_characters_and_the_bom_split_across_read_chunks(world, monkeypatch, chunk):
    small_chunks(monkeypatch, chunk)
    text = "\ufeffemail;first_name;last_name\nzoe@x.de;Zoë;Müßig €\n😀@x.de;Emoji;💌\nkäse€;K;\n"
    kept = upload(world.kunde1, text)
    assert (kept.encoding, kept.delimiter) == ("utf-8-sig", ";")
    header, preview = importing.header_and_preview(kept)
    assert header == ["email", "first_name", "last_name"]
    assert preview[0] == ["zoe@x.de", "Zoë", "Müßig €"]
    job = run(world, world.kunde1, kept, keep_valid=True)
    found = contacts(world.kunde1)
    assert (found["zoe@x.de"].first_name, found["zoe@x.de"].last_name) == ("Zoë", "Müßig €")
    assert found["😀@x.de"].last_name == "💌"
    # The invalid address: its line and raw text survive the chunking.
    assert job.summary["errors"] == [[4, "käse€", "Enter a valid e-mail address."]]


@pytest.mark.parametrize("chunk", [1, 4, 1024 * 1024])
def test_tenant_charset_streamed_in_chunks(world, monkeypatch, chunk):
    small_chunks(monkeypatch, chunk)
    text = "email,first_name,Stadt\nj@x.de,Jörg,Köln €\n"
    kept = upload(world.kunde2, text, "iso-8859-15")
    assert kept.encoding == "iso-8859-15"
    job = run(world, world.kunde2, kept)
    assert job.status == JobStatus.DONE, job.error
    contact = contacts(world.kunde2)["j@x.de"]
    assert (contact.first_name, contact.fields) == ("Jörg", {"Stadt": "Köln €"})


def test_crlf_line_ends(world, monkeypatch):
    small_chunks(monkeypatch, 7)
    text = "email,first_name\r\na@x.de,Anna\r\nkaputt,Bert\r\nc@x.de,Carla\r\n"
    job = run(world, world.kunde1, upload(world.kunde1, text), keep_valid=True)
    found = contacts(world.kunde1)
    assert found["a@x.de"].first_name == "Anna"
    assert found["c@x.de"].first_name == "Carla"
    assert [row[0] for row in job.summary["errors"]] == [3]


def test_quoted_line_breaks_inside_a_field_and_line_numbers_after_them(world, monkeypatch):
    small_chunks(monkeypatch, 5)
    text = (
        "email,notiz\n"
        'a@x.de,"erste Zeile\nzweite Zeile"\n'  # lines 2-3
        'kaputt,"noch\r\nmehrere\nZeilen"\n'  # lines 4-6: reported at its first line
        "b@x.de,ok\n"  # line 7
        "nix,x\n"  # line 8
    )
    job = run(world, world.kunde1, upload(world.kunde1, text), keep_valid=True)
    found = contacts(world.kunde1)
    assert found["a@x.de"].fields == {"notiz": "erste Zeile\nzweite Zeile"}
    assert found["b@x.de"].fields == {"notiz": "ok"}
    assert [row[:2] for row in job.summary["errors"]] == [[4, "kaputt"], [8, "nix"]]
    assert job.summary["rows"] == 4


def test_duplicates_across_batches_last_row_wins(world, monkeypatch):
    monkeypatch.setattr(importing, "BATCH", 2)
    run(world, world.kunde1, upload(world.kunde1, "email,first_name,plz\nold@x.de,Alt,1\n"))
    text = (
        "email,first_name,last_name,language,plz,ort\n"
        "d@x.de,Erst,A,de,10115,\n"
        "e@x.de,Eva,,,,\n"  # batch 1 ends here
        "f@x.de,Fritz,,,,\n"
        "D@X.de,Zweit,,en,,Berlin\n"  # batch 2: merged into the stored row
        "old@x.de,Neu,,,,\n"
        "d@x.de,,Letzt,,,\n"  # batch 3
    )
    job = run(world, world.kunde1, upload(world.kunde1, text))
    assert job.status == JobStatus.DONE, job.error
    found = contacts(world.kunde1)
    d = found["d@x.de"]
    assert (d.first_name, d.last_name, d.language) == ("Zweit", "Letzt", "en")
    assert d.fields == {"plz": "10115", "ort": "Berlin"}
    assert (found["old@x.de"].first_name, found["old@x.de"].fields) == ("Neu", {"plz": "1"})
    assert job.summary["duplicates"] == 2
    assert job.summary["imported"] == 4
    # One consent record per contact of each import: old@ twice (two imports), d@ once.
    assert consents(world.kunde1) == {"old@x.de": 2, "d@x.de": 1, "e@x.de": 1, "f@x.de": 1}


def test_errors_beyond_the_first_chunk_and_batch_keep_their_line_numbers(world, monkeypatch):
    small_chunks(monkeypatch, 64)
    monkeypatch.setattr(importing, "BATCH", 7)
    monkeypatch.setattr(importing, "ERRORS_KEPT", 3)
    bad_lines = {40, 41, 97, 150, 201}
    rows = []
    for line in range(2, 202):
        rows.append(f"kaputt{line}" if line in bad_lines else f"user{line}@x.de")
    job = run(
        world, world.kunde1, upload(world.kunde1, "email\n" + "\n".join(rows)), keep_valid=True
    )
    assert job.status == JobStatus.DONE, job.error
    assert job.summary["invalid"] == 5
    # The first ERRORS_KEPT errors are kept for the download, in file order.
    assert job.summary["errors"] == [
        [40, "kaputt40", "Enter a valid e-mail address."],
        [41, "kaputt41", "Enter a valid e-mail address."],
        [97, "kaputt97", "Enter a valid e-mail address."],
    ]
    assert len(contacts(world.kunde1)) == 195
    assert job.done == job.total == 200


def test_all_or_nothing_across_batches(world, monkeypatch):
    monkeypatch.setattr(importing, "BATCH", 3)
    small_chunks(monkeypatch, 16)
    run(world, world.kunde1, upload(world.kunde1, "email,first_name\nalt@x.de,Alt\n"))
    good = [f"user{i}@x.de,Neu" for i in range(20)] + ["alt@x.de,Neu"]
    text = "email,first_name\n" + "\n".join([*good, "kaputt,X"]) + "\n"
    job = run(world, world.kunde1, upload(world.kunde1, text))
    assert job.status == JobStatus.FAILED
    assert [row[0] for row in job.summary["errors"]] == [23]
    # Nothing of the 21 valid rows (7 batches) was written, the existing contact untouched.
    found = contacts(world.kunde1)
    assert sorted(found) == ["alt@x.de"]
    assert found["alt@x.de"].first_name == "Alt"
    assert consents(world.kunde1) == {"alt@x.de": 1}
    # The same file with "keep the valid rows" writes them.
    job = run(world, world.kunde1, upload(world.kunde1, text), keep_valid=True)
    assert job.status == JobStatus.DONE
    assert len(contacts(world.kunde1)) == 21
    assert contacts(world.kunde1)["alt@x.de"].first_name == "Neu"


def test_progress_is_written_per_interval_not_per_row(world, monkeypatch):
    monkeypatch.setattr(importing, "BATCH", 10)
    monkeypatch.setattr(importing, "PROGRESS_EVERY", 0.0)  # every batch
    rows = "\n".join(f"user{i}@x.de" for i in range(100))
    job = queued_import(world, "email\n" + rows + "\n")
    assert job.total == 100
    table = Job._meta.db_table
    with CaptureQueriesContext(connection) as ctx:
        job = importing.import_job_run(job_id=job.pk)
    updates = [q["sql"] for q in ctx.captured_queries if q["sql"].startswith(f'UPDATE "{table}"')]
    progress = [sql for sql in updates if '"done" =' in sql and '"status"' not in sql]
    # Validation pass and write pass: 10 batches each (half of the bar each), not 200 rows.
    assert 10 <= len(progress) <= 22, len(progress)
    assert job.done == job.total == 100


def test_progress_is_a_sign_of_life_through_invalid_rows_too(world, monkeypatch):
    """A long run of invalid rows fills no batch; the job still writes its progress (and with
    it ``progress_at``), so it does not look stalled (jobs.services.job_restart)."""
    monkeypatch.setattr(importing, "BATCH", 10)
    monkeypatch.setattr(importing, "PROGRESS_EVERY", 0.0)
    rows = "\n".join(f"kaputt{i}" for i in range(100))
    job = run(world, world.kunde1, upload(world.kunde1, "email\n" + rows + "\n"), keep_valid=True)
    assert job.summary["invalid"] == 100
    with CaptureQueriesContext(connection) as ctx:
        run(world, world.kunde1, upload(world.kunde1, "email\n" + rows + "\n"), keep_valid=True)
    progress = [q["sql"] for q in ctx.captured_queries if '"progress_at" =' in q["sql"]]
    assert len(progress) >= 10


@pytest.mark.parametrize(
    "raw",
    [
        "Max.Mustermann@Example.COM",
        " max+tag@sub.example.de ",
        "a_b-c@x-y.example",
        "x@xn--mller-kva.example",
        "jörg@müller.example",
        "user@localhost",
        "user@example",
        "user@-bad.example",
        "user@bad-.example",
        "user@example.123",
        "user@invalid",
        "a..b@example.com",
        ".a@example.com",
        "a.@example.com",
        "a" * 64 + "@example.com",
        "a" * 65 + "@example.com",
        "a@" + ".".join(["b" * 63] * 4) + ".com",
        "a@b.c" + "d" * 70,
        "kaputt",
        "a@b@c.de",
        '"quoted"@example.com',
        "user@[127.0.0.1]",
    ],
)
def test_import_email_agrees_with_normalize_email(raw):
    try:
        expected: str | None = normalize_email(raw)
    except ValidationError:
        expected = None
    try:
        got: str | None = importing.import_email(raw)
    except ValidationError:
        got = None
    assert got == expected


def test_a_batch_larger_than_one_statement_allows(world, monkeypatch):
    """SQLite binds a limited number of parameters: a batch is split into several statements
    (on PostgreSQL the batch is one COPY and one statement whatever its size)."""
    monkeypatch.setattr(importing, "BATCH", 10)
    monkeypatch.setattr(importing, "SQLITE_MAX_PARAMS", 30)  # 3 rows per statement
    rows = "\n".join(f"user{i}@x.de,Name{i}" for i in range(25))
    job = run(world, world.kunde1, upload(world.kunde1, "email,first_name\n" + rows + "\n"))
    assert job.status == JobStatus.DONE, job.error
    found = contacts(world.kunde1)
    assert len(found) == 25
    assert found["user24@x.de"].first_name == "Name24"
    assert set(consents(world.kunde1).values()) == {1}


def test_the_stored_file_is_the_uploaded_bytes(world, monkeypatch):
    small_chunks(monkeypatch, 10)
    data = 'email;Straße\r\nä@x.de;"a\nb"\r\n'.encode() * 50
    kept = importing.upload_create(tenant=world.kunde1, name="s.csv", data=data)
    assert kept.size == len(data)
    assert b"".join(importing.stored_chunks(kept.pk)) == data
    sizes = list(
        ImportFileChunk.objects.filter(file_id=kept.pk)
        .order_by("seq")
        .values_list("seq", Length("data"))
    )
    assert [seq for seq, _size in sizes] == list(range(-(-len(data) // 10)))
    assert {size for _seq, size in sizes[:-1]} == {10}


class Trickle(io.RawIOBase):
    """An upload that hands out at most ``step`` bytes per read and refuses a read of all."""

    def __init__(self, data: bytes, step: int) -> None:
        self.data, self.step, self.read_sizes = data, step, []  # type: ignore[var-annotated]

    def read(self, size: int = -1) -> bytes:  # type: ignore[override]
        assert size is not None and size > 0, "the upload was read whole"
        self.read_sizes.append(size)
        piece, self.data = self.data[: min(size, self.step)], self.data[min(size, self.step) :]
        return piece


def test_an_upload_is_read_a_chunk_at_a_time(world, monkeypatch):
    small_chunks(monkeypatch, 64)
    data = b"email,first_name\n" + b"".join(
        f"user{i}@x.de,N\u00e4me{i}\n".encode() for i in range(40)
    )
    upload = Trickle(data, step=7)
    kept = importing.upload_create(tenant=world.kunde1, name="t.csv", data=upload)
    assert max(upload.read_sizes) <= 64
    assert b"".join(importing.stored_chunks(kept.pk)) == data
    job = run(world, world.kunde1, kept)
    assert job.status == JobStatus.DONE, job.error
    assert contacts(world.kunde1)["user39@x.de"].first_name == "Näme39"


def test_an_upload_over_the_limit_keeps_nothing(world, monkeypatch):
    """The size is found out while storing (a stream may not tell it): the chunks stored up to
    then go with the transaction."""
    small_chunks(monkeypatch, 16)
    monkeypatch.setattr(importing, "MAX_UPLOAD_BYTES", 100)
    data = b"email\n" + b"".join(f"u{i}@x.de\n".encode() for i in range(20))
    with pytest.raises(ValidationError) as info:
        importing.upload_create(tenant=world.kunde1, name="big.csv", data=Trickle(data, 16))
    assert "200 MB" in str(info.value)
    with scopes_disabled():
        assert not ImportFile.objects.filter(tenant=world.kunde1).exists()
        assert not ImportFileChunk.objects.exists()


def _planner_rows() -> float:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT reltuples FROM pg_class WHERE oid = %s::regclass", [Contact._meta.db_table]
        )
        return float(cursor.fetchone()[0])


def test_a_large_import_refreshes_the_planner_statistics(world, settings):
    """Right after a bulk load PostgreSQL does not know the new rows; a large import runs
    ANALYZE so that the first campaign to them gets index plans (campaigns.pipeline)."""
    if connection.vendor != "postgresql":
        pytest.skip("planner statistics are PostgreSQL's")

    settings.CONTACT_IMPORT_ANALYZE_ROWS = 5
    rows = "".join(f"s{i}@x.de,S{i}\n" for i in range(4))
    assert run(world, world.kunde1, upload(world.kunde1, "email,first_name\n" + rows)).status == (
        JobStatus.DONE
    )
    with scopes_disabled():
        after_small = Contact.objects.count()
    # Four rows are below the threshold: the statistics were not refreshed for them.
    assert _planner_rows() != after_small
    rows = "".join(f"l{i}@x.de,L{i}\n" for i in range(6))
    assert run(world, world.kunde1, upload(world.kunde1, "email,first_name\n" + rows)).status == (
        JobStatus.DONE
    )
    with scopes_disabled():
        assert _planner_rows() == Contact.objects.count() == after_small + 6


def test_uploads_past_the_keeping_time_go_with_the_next_upload(world, settings):
    settings.CONTACT_IMPORT_KEEP_DAYS = 7
    old = upload(world.kunde1, "email\nalt@x.de\n")
    recent = upload(world.kunde2, "email\nneu@x.de\n")
    with scopes_disabled():
        ImportFile.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(days=8))
        ImportFile.objects.filter(pk=recent.pk).update(
            created_at=timezone.now() - timedelta(days=6)
        )
    # An old file whose job has not finished (here: its worker died) is still needed.
    pending = upload(world.kunde1, "email\nwartet@x.de\n")
    job = importing.import_start(
        actor=Actor(user=world.paula),
        tenant=world.kunde1,
        grant=RoleGrant(role=Role.CUSTOMER_SERVICE, source=world.alpha),
        upload=pending,
        mapping={0: "email"},
    )
    with scopes_disabled():
        ImportFile.objects.filter(pk=pending.pk).update(
            created_at=timezone.now() - timedelta(days=30)
        )
        Job.objects.filter(pk=job.pk).update(status=JobStatus.RUNNING)
    upload(world.kunde2, "email\nnoch@x.de\n")
    with scopes_disabled():
        assert ImportFile.objects.filter(pk=pending.pk).exists()
        assert not ImportFile.objects.filter(pk=old.pk).exists()
        assert not ImportFileChunk.objects.filter(file_id=old.pk).exists()
        assert ImportFile.objects.filter(pk=recent.pk).exists()
    assert b"".join(importing.stored_chunks(recent.pk)) == b"email\nneu@x.de\n"
    # The daily command does the same without an upload.
    with scopes_disabled():
        ImportFile.objects.filter(pk=recent.pk).update(
            created_at=timezone.now() - timedelta(days=8)
        )
    out = io.StringIO()
    call_command("contacts", "purge-uploads", stdout=out)
    assert out.getvalue().strip() == "1 uploaded files removed"
    with scopes_disabled():
        assert not ImportFile.objects.filter(pk=recent.pk).exists()
        assert ImportFile.objects.filter(pk=pending.pk).exists()


@pytest.mark.django_db(transaction=True)
def test_the_migration_moves_kept_uploads_into_chunks_and_back(world, monkeypatch):
    """0004 on uploads kept in the old column: read in pieces, stored as chunk rows; old ones
    no unfinished job needs are removed; migrating back joins the chunks again."""
    migration = import_module("mandant.contacts.migrations.0004_import_file_chunks")
    monkeypatch.setattr(migration, "CHUNK", 10)
    monkeypatch.setattr(migration, "MAX_READS", 3)  # pieces of several chunks each
    before, after = ("contacts", "0003_consent_signup_ip"), ("contacts", "0004_import_file_chunks")
    MigrationExecutor(connection).migrate([before])
    data = b"email\n" + b"".join(f"m{i}@x.de\n".encode() for i in range(40))
    table = connection.ops.quote_name("contacts_importfile")
    month_ago = timezone.now() - timedelta(days=30)

    def old_style(created_at) -> int:  # type: ignore[no-untyped-def]
        with connection.cursor() as cursor:
            cursor.execute(
                f"INSERT INTO {table} (tenant_id, name, data, encoding, delimiter, created_at) "  # noqa: S608
                "VALUES (%s, 'c.csv', %s, 'utf-8', ',', %s)",
                [world.kunde1.pk, data, created_at],
            )
            cursor.execute(f"SELECT max(id) FROM {table}")  # noqa: S608
            return int(cursor.fetchone()[0])

    recent, needed = old_style(timezone.now()), old_style(month_ago)
    old_style(month_ago)  # no job needs it: removed
    with scopes_disabled():
        Job.objects.create(
            tenant=world.kunde1,
            kind="contact_import",
            status=JobStatus.RUNNING,
            params={"upload": needed},
        )
    MigrationExecutor(connection).migrate([after])
    for kept in (recent, needed):
        assert b"".join(importing.stored_chunks(kept)) == data
        sizes = ImportFileChunk.objects.filter(file_id=kept).values_list(Length("data"), flat=True)
        assert set(sizes) - {len(data) % 10} == {10}
    with scopes_disabled():
        assert set(ImportFile.objects.values_list("pk", flat=True)) == {recent, needed}
        assert ImportFile.objects.get(pk=recent).size == len(data)
    MigrationExecutor(connection).migrate([before])
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT data FROM {table} WHERE id = %s", [recent])  # noqa: S608
        assert bytes(cursor.fetchone()[0]) == data
    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())


def test_a_job_writes_in_the_language_of_the_user_who_started_it(world):
    """The worker runs in the default language; the job's stored texts (its error, the consent
    note) are in the starter's language all the same, and the count takes its plural form."""
    one_bad = "email\ngood@x.de\nnot-an-address\n"
    job = run(world, world.kunde1, upload(world.kunde1, one_bad))
    assert job.error == "1 row is invalid: nothing was imported."
    world.paula.language = "de"
    world.paula.save(update_fields=["language"])
    job = run(world, world.kunde1, upload(world.kunde1, one_bad))
    assert job.error == "1 Zeile ist ungültig: Es wurde nichts importiert."
    job = run(world, world.kunde1, upload(world.kunde1, BAD_FILE))
    assert job.error == "2 Zeilen sind ungültig: Es wurde nichts importiert."
    run(world, world.kunde1, upload(world.kunde1, "email\nneu@x.de\n"))
    with scope(tenant=world.kunde1.pk):
        record = ConsentRecord.objects.get(contact__email="neu@x.de")
    assert record.text == "Aus einer CSV-Datei importiert."


def test_german_pages_name_the_targets_and_count_in_singular_and_plural(world):
    from django.urls import reverse

    world.carl.language = "de"
    world.carl.save(update_fields=["language"])
    client = world.client_for(world.carl)
    kept = upload(world.kunde1, "email,first_name,language\na@x.de,A,de\nA@x.de,B,de\n")
    url = reverse("contacts:import_mapping", args=[world.kunde1.slug, kept.pk])
    page = client.get(url).content.decode()
    # Labels for people, the stored names as values.
    assert '<option value="email" selected>E-Mail-Adresse</option>' in page
    assert '<option value="first_name" selected>Vorname</option>' in page
    assert '<option value="last_name">Nachname</option>' in page
    assert '<option value="language" selected>Sprache</option>' in page
    form = {"col0": "email", "col1": "first_name", "col2": "language"}
    dry = client.post(url, {**form, "action": "dry_run"}).content.decode()
    assert (
        "2 Zeilen: 2 gültig, 0 ungültig; 1 neuer Kontakt, 0 aktualisiert, "
        "1 Duplikat zusammengeführt. Es wurde nichts gespeichert."
    ) in dry
    job_url = client.post(url, {**form, "action": "start"})["Location"]
    importing.import_job_run(job_id=int(job_url.rstrip("/").rsplit("/", 1)[1]))
    summary = client.get(job_url).content.decode()
    assert "2 Zeilen: 1 Kontakt importiert, 0 ungültige Zeilen." in summary


def test_a_failed_import_links_back_to_its_mapping(world):
    kept = upload(world.kunde1, "email\na@x.de\nkaputt\n")
    job = run(world, world.kunde1, kept)
    assert job.status == JobStatus.FAILED
    url = f"/t/{world.kunde1.slug}/contacts/jobs/{job.pk}/"
    mapping = f"/t/{world.kunde1.slug}/contacts/import/{kept.pk}/"
    assert f'href="{mapping}"' in world.client_for(world.paula).get(url).content.decode()
    # Not for a role that may not import, nor once the file is gone.
    viewer = user_create(email="v@kunde1.example", password="correct-horse-battery-staple-7")
    membership_set(actor=Actor(user=world.olga), tenant=world.kunde1, user=viewer, role=Role.VIEWER)
    assert mapping not in world.client_for(viewer).get(url).content.decode()
    with scopes_disabled():
        ImportFile.objects.filter(pk=kept.pk).delete()
    assert mapping not in world.client_for(world.paula).get(url).content.decode()
