"""CSV import of contacts: detect the encoding and delimiter, map the header, validate, and
upsert in batches while streaming over the stored file (never the whole file in memory).

The upload is stored and read in chunks (``READ_CHUNK`` bytes, one ``ImportFileChunk`` row
each; the request reads Django's spooled upload a chunk at a time), decoded incrementally in
the chosen charset and parsed by ``csv.reader``. Without "keep the valid rows", a first pass
validates the whole file and, if any row is invalid, nothing is written; only then does the
write pass run. Each batch is one transaction; the upsert is idempotent, so a job that died
mid-way is simply run again.

Duplicates in the file are merged, the last row wins: within a batch in Python, across batches
by the upsert itself (a value in the file replaces the stored one, an empty cell keeps it,
custom fields are merged). Which addresses were already seen is kept as 64-bit hashes, not as
strings (1,000,000 addresses ≈ 70 MB instead of ≈ 120 MB).
"""

import codecs
import csv
import io
import itertools
import json
import logging
import re
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from functools import lru_cache
from typing import IO, Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import connection, models, transaction
from django.db.models import F
from django.db.models.functions import Coalesce
from django.utils import timezone, translation
from django.utils.functional import Promise
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext
from django_scopes import scope, scopes_disabled

from mandant.contacts.models import (
    ConsentRecord,
    ConsentSource,
    Contact,
    ContactList,
    ImportFile,
    ImportFileChunk,
    ListMembership,
)
from mandant.contacts.normalize import normalize_email
from mandant.contacts.selectors import list_get
from mandant.core.actor import Actor, RoleGrant
from mandant.core.errors import NotFound
from mandant.core.text import UNSTORABLE, unstorable_codes
from mandant.jobs.models import Job, JobKind, JobStatus
from mandant.jobs.selectors import job_language
from mandant.jobs.services import job_finish
from mandant.tenants.models import Tenant

logger = logging.getLogger(__name__)

# Rows per upsert statement and transaction (after merging duplicates within the batch).
BATCH = 5000
# Bytes of an upload per stored chunk (ImportFileChunk), written and read one at a time.
READ_CHUNK = 1024 * 1024
# The errors kept for the download (a file of a million bad rows is reported by its first ones).
ERRORS_KEPT = 10_000
PREVIEW_ROWS = 5
MAX_UPLOAD_BYTES = 200 * 1024 * 1024
STANDARD_TARGETS = ("email", "first_name", "last_name", "language")
# What the mapping form shows for each standard target (the value stays the target's name).
TARGET_LABELS: dict[str, Promise] = {
    "email": gettext_lazy("E-mail address"),
    "first_name": gettext_lazy("First name"),
    "last_name": gettext_lazy("Last name"),
    "language": gettext_lazy("Language"),
}
SNIFF_BYTES = 64 * 1024
SQLITE_MAX_PARAMS = 32_000
# The job's progress is written at most this often (seconds), not per row or batch.
PROGRESS_EVERY = 1.0


@dataclass
class Record:
    email: str
    first_name: str | None
    last_name: str | None
    language: str | None
    fields: dict[str, str]


@dataclass
class Scan:
    rows: int = 0
    valid: int = 0
    invalid: int = 0
    new: int = 0
    existing: int = 0
    duplicates: int = 0
    # Every error (line, e-mail, message) goes to a temporary file, not into a list.
    _errors: IO[str] | None = field(default=None, repr=False)

    def add_error(self, line: int, email: str, message: str) -> None:
        self.invalid += 1
        if self._errors is None:
            self._errors = tempfile.SpooledTemporaryFile(  # noqa: SIM115 - closed in close()
                max_size=1024 * 1024, mode="w+", encoding="utf-8", newline=""
            )
        csv.writer(self._errors).writerow([line, email, message])

    @property
    def errors(self) -> list[tuple[int, str, str]]:
        """The first ``ERRORS_KEPT`` errors, in file order."""
        if self._errors is None:
            return []
        self._errors.seek(0)
        kept: list[tuple[int, str, str]] = []
        for line, email, message in csv.reader(self._errors):
            kept.append((int(line), email, message))
            if len(kept) >= ERRORS_KEPT:
                break
        self._errors.seek(0, io.SEEK_END)
        return kept

    def close(self) -> None:
        if self._errors is not None:
            self._errors.close()
            self._errors = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "rows": self.rows,
            "valid": self.valid,
            "invalid": self.invalid,
            "new": self.new,
            "existing": self.existing,
            "duplicates": self.duplicates,
        }


class _Seen:
    """The addresses seen so far, as 64-bit hashes (``hash()`` of a str is SipHash, stable
    within the process). Two addresses colliding (≈ 3 in 10^8 for a million of them) would
    count the second as a duplicate and give it no consent record of this import; the contact
    itself is still written."""

    def __init__(self) -> None:
        self._hashes: set[int] = set()

    def add(self, email: str) -> bool:
        """True when the address is new."""
        key = hash(email)
        if key in self._hashes:
            return False
        self._hashes.add(key)
        return True


# What Excel's plain "CSV" format writes on Western European systems: the encoding of a file
# that is not UTF-8, for a tenant whose own charset is UTF-8.
EXCEL_ENCODING = "cp1252"


def detect_encoding(data: bytes, tenant: Tenant) -> str:
    """UTF-8 (with or without BOM) when the bytes are UTF-8, else the tenant's charset (for a
    UTF-8 tenant: Windows-1252, as Excel saves CSV; the wizard's preview shows the result)."""
    if data.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    decoder = codecs.getincrementaldecoder("utf-8")()
    try:
        decoder.decode(data[:SNIFF_BYTES], final=len(data) <= SNIFF_BYTES)
        return "utf-8"
    except UnicodeDecodeError:
        pass
    charset = (tenant.charset or "UTF-8").lower()
    if charset in ("utf-8", "utf8"):
        charset = EXCEL_ENCODING
    try:
        data[:SNIFF_BYTES].decode(charset)
    except UnicodeDecodeError:
        raise ValidationError(
            {"file": _("The file's encoding is not recognised. Save it as UTF-8 CSV.")}
        ) from None
    return charset


def detect_delimiter(first_line: str) -> str:
    return ";" if first_line.count(";") > first_line.count(",") else ","


class _ChunkStream(io.RawIOBase):
    """A readable byte stream over an iterator of chunks."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self._chunks = chunks
        self._chunk = memoryview(b"")

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        while not self._chunk:
            chunk = next(self._chunks, b"")
            if not chunk:
                return 0
            self._chunk = memoryview(chunk)
        n = min(len(buffer), len(self._chunk))
        buffer[:n] = self._chunk[:n]
        self._chunk = self._chunk[n:]
        return n


def _csv_reader(chunks: Iterator[bytes], encoding: str, delimiter: str) -> Any:
    """A ``csv.reader`` (``Any``: typeshed has no public name for its type, with ``line_num``)."""
    # The text wrapper decodes incrementally (a character split between chunks is fine).
    raw = io.BufferedReader(_ChunkStream(chunks), buffer_size=64 * 1024)
    text = io.TextIOWrapper(raw, encoding=encoding, newline="")
    return csv.reader(text, delimiter=delimiter)


def open_rows(data: bytes, encoding: str, delimiter: str) -> Iterator[list[str]]:
    """Rows of CSV bytes held in memory (the start of an upload, before it is stored)."""
    return _csv_reader(iter([data]), encoding, delimiter)


def stored_chunks(upload_id: int) -> Iterator[bytes]:
    """The stored file of an ``ImportFile``, chunk by chunk (one query each, walked by ``seq``):
    the model instance never holds the bytes, and no statement stays open between chunks."""
    seq = -1
    while True:
        found = (
            ImportFileChunk.objects.filter(file_id=upload_id, seq__gt=seq)
            .order_by("seq")
            .values_list("seq", "data")
            .first()
        )
        if found is None:
            return
        seq = found[0]
        yield bytes(found[1])


def stored_rows(upload: ImportFile) -> Any:
    """A ``csv.reader`` over the stored file (``line_num`` is the physical line)."""
    return _csv_reader(stored_chunks(upload.pk), upload.encoding, upload.delimiter)


def _full_chunks(data: bytes | IO[bytes]) -> Iterator[bytes]:
    """``READ_CHUNK`` bytes at a time (the last chunk may be shorter); a short chunk is the end."""
    if isinstance(data, bytes):
        view = memoryview(data)
        for offset in range(0, len(view), READ_CHUNK):
            yield bytes(view[offset : offset + READ_CHUNK])
        return
    while True:
        chunk = data.read(READ_CHUNK)
        while chunk and len(chunk) < READ_CHUNK:
            more = data.read(READ_CHUNK - len(chunk))
            if not more:
                break
            chunk += more
        if not chunk:
            return
        yield chunk
        if len(chunk) < READ_CHUNK:
            return


def uploads_purge() -> int:
    """Uploads past ``CONTACT_IMPORT_KEEP_DAYS`` (of every tenant) go with their chunks: a file
    of contacts is personal data, kept no longer than the import needs it. Run daily
    (``mandant contacts purge-uploads``) and with every upload. Returns the files removed."""
    days = int(getattr(settings, "CONTACT_IMPORT_KEEP_DAYS", 7))
    with scopes_disabled():
        # A job not finished yet (queued, running, stalled) still needs its file.
        needed = [
            params.get("upload")
            for params in Job.objects.filter(
                kind=JobKind.CONTACT_IMPORT, status__in=(JobStatus.QUEUED, JobStatus.RUNNING)
            ).values_list("params", flat=True)
        ]
        _deleted, by_model = (
            ImportFile.objects.filter(created_at__lt=timezone.now() - timedelta(days=days))
            .exclude(pk__in=[pk for pk in needed if isinstance(pk, int)])
            .delete()
        )
    return by_model.get(ImportFile._meta.label, 0)


def upload_create(*, tenant: Tenant, name: str, data: bytes | IO[bytes]) -> ImportFile:
    """Keep an uploaded CSV (its bytes, or a readable binary file such as Django's upload, which
    is read a chunk at a time) for the wizard and the job; ValidationError on ``file``, and
    then nothing is kept."""
    too_large = ValidationError({"file": _("The file is larger than 200 MB.")})
    if int(getattr(data, "size", 0) or 0) > MAX_UPLOAD_BYTES:
        raise too_large
    chunks = _full_chunks(data)
    # The first chunks, until more than SNIFF_BYTES or the end: enough to tell the encoding
    # (detect_encoding knows the file ends within them when they are no more) and the header.
    first: list[bytes] = []
    read = 0
    for chunk in chunks:
        first.append(chunk)
        read += len(chunk)
        if read > SNIFF_BYTES:
            break
    start = b"".join(first)
    if not start:
        raise ValidationError({"file": _("The file is empty.")})
    encoding = detect_encoding(start, tenant)
    try:
        head = start[:SNIFF_BYTES].decode(encoding, errors="ignore")
    except LookupError:
        raise ValidationError({"file": _("Unknown character set.")}) from None
    first_line = head.splitlines()[0] if head.splitlines() else ""
    delimiter = detect_delimiter(first_line)
    # What the wizard will show must be readable: the header and the preview rows.
    header, _preview = _header_and_preview(open_rows(start, encoding, delimiter))
    if not [h for h in header if h.strip()]:
        raise ValidationError({"file": _("The first row must name the columns.")})
    uploads_purge()
    with scope(tenant=tenant.pk), transaction.atomic():
        kept = ImportFile.objects.create(
            tenant=tenant, name=name[:255], encoding=encoding, delimiter=delimiter
        )
        size = 0
        for seq, chunk in enumerate(itertools.chain(first, chunks)):
            size += len(chunk)
            if size > MAX_UPLOAD_BYTES:
                raise too_large  # the transaction ends: no chunk is kept
            ImportFileChunk.objects.create(file=kept, seq=seq, data=chunk)
        kept.size = size
        kept.save(update_fields=["size"])
    return kept


def header_and_preview(upload: ImportFile) -> tuple[list[str], list[list[str]]]:
    """The header and the first rows (reads only the first chunk or two of the file);
    ValidationError on ``file`` when they cannot be read."""
    return _header_and_preview(stored_rows(upload))


def _header_and_preview(rows: Any) -> tuple[list[str], list[list[str]]]:
    try:
        header: list[str] = next(rows, [])
        preview: list[list[str]] = []
        for row in rows:
            preview.append(row)
            if len(preview) >= PREVIEW_ROWS:
                break
    except (csv.Error, UnicodeDecodeError):
        raise ValidationError({"file": _("The file is not a readable CSV file.")}) from None
    return header, preview


def guess_mapping(header: list[str]) -> dict[int, str]:
    """Column index -> target: standard names as they are (and a few German ones), every other
    column a custom field of its name."""
    aliases = {
        "e-mail": "email",
        "mail": "email",
        "email address": "email",
        "e-mail-adresse": "email",
        "vorname": "first_name",
        "first name": "first_name",
        "firstname": "first_name",
        "nachname": "last_name",
        "last name": "last_name",
        "lastname": "last_name",
        "sprache": "language",
    }
    mapping: dict[int, str] = {}
    for index, name in enumerate(header):
        key = name.strip().lower()
        key = aliases.get(key, key)
        if key in STANDARD_TARGETS:
            mapping[index] = key
        elif name.strip():
            mapping[index] = "field:" + name.strip()
    return mapping


def clean_mapping(mapping: dict[Any, Any], width: int) -> dict[int, str]:
    cleaned: dict[int, str] = {}
    for index, target in mapping.items():
        try:
            column = int(index)
        except (TypeError, ValueError):
            raise ValidationError({"mapping": _("Columns are given by their number.")}) from None
        target = str(target or "").strip()
        if not target:
            continue
        if column < 0 or column >= width:
            raise ValidationError(
                {"mapping": _("The file has no column %(n)s.") % {"n": column + 1}}
            )
        if target not in STANDARD_TARGETS and not (target.startswith("field:") and len(target) > 6):
            raise ValidationError({"mapping": _("Unknown target: %(t)s.") % {"t": target}})
        cleaned[column] = target
    targets = list(cleaned.values())
    if "email" not in targets:
        raise ValidationError({"mapping": _("Choose the column that holds the e-mail address.")})
    if len(targets) != len(set(targets)):
        raise ValidationError({"mapping": _("Each target can be chosen for one column only.")})
    return cleaned


# A plain ASCII address (dot-atom local part, host name): by far the most common form.
_PLAIN_ADDRESS = re.compile(
    r"([A-Za-z0-9_+-]+(?:\.[A-Za-z0-9_+-]+)*)@([A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+)"
)


@lru_cache(maxsize=16384)
def _plain_domain(domain: str) -> str | None:
    """The normalised domain when ``normalize_email`` keeps it as it is (lower-cased), else
    None (invalid, or changed, e.g. an ``xn--`` name shown in Unicode)."""
    try:
        normalized = normalize_email("a@" + domain).split("@", 1)[1]
    except ValidationError:
        return None
    return normalized if normalized == domain.lower() else None


def import_email(raw: str) -> str:
    """``normalize_email`` with a fast path: a plain ASCII address is valid exactly when its
    domain is (checked once per domain, cached), and normalises to its lower-case form; every
    other address goes through ``normalize_email``. Most of an import's time was the domain
    check of every row, and a file has few distinct domains."""
    text = raw.strip()
    match = _PLAIN_ADDRESS.fullmatch(text)
    if match is not None and len(match.group(1)) <= 64 and len(text) <= 254:
        domain = _plain_domain(match.group(2))
        if domain is not None:
            return match.group(1).lower() + "@" + domain
    return normalize_email(text)


def parse_row(row: list[str], mapping: dict[int, str]) -> Record:
    """A record, or ValidationError with a message for the row."""
    values: dict[str, str | None] = {"first_name": None, "last_name": None, "language": None}
    fields: dict[str, str] = {}
    email = ""
    for column, target in mapping.items():
        cell = row[column].strip() if column < len(row) else ""
        if target == "email":
            email = cell
        elif target.startswith("field:"):
            if cell:
                fields[target[6:]] = cell
        elif cell:
            values[target] = cell[:150] if target != "language" else cell.lower()
    if not email:
        raise ValidationError(_("The e-mail address is missing."))
    if UNSTORABLE.search("".join(row)):
        raise ValidationError(
            _("The row contains control characters (%(codes)s), which cannot be stored.")
            % {"codes": unstorable_codes("".join(row))}
        )
    language = values["language"]
    if language is not None and len(language) > 8:
        raise ValidationError(_("Enter a language code such as de or en."))
    return Record(
        email=import_email(email),
        first_name=values["first_name"],
        last_name=values["last_name"],
        language=language,
        fields=fields,
    )


def _records(
    upload: ImportFile, mapping: dict[int, str]
) -> Iterator[tuple[int, Record | str, str]]:
    """(line number where the row starts, record or error message, raw e-mail) for every
    data row."""
    rows = stored_rows(upload)
    try:
        next(rows)
    except StopIteration:
        return
    except (csv.Error, UnicodeDecodeError) as exc:
        yield (1, _("The file cannot be read further: %(e)s") % {"e": exc}, "")
        return
    width = len(mapping) and max(mapping) + 1
    email_col = next((c for c, t in mapping.items() if t == "email"), None)
    while True:
        line = rows.line_num + 1
        try:
            row = next(rows)
        except StopIteration:
            return
        except (csv.Error, UnicodeDecodeError) as exc:
            # The reader cannot go on past a broken line (e.g. an unclosed quote at the end).
            yield (line, _("The file cannot be read further: %(e)s") % {"e": exc}, "")
            return
        if not any(cell.strip() for cell in row):
            continue
        raw_email = ""
        if email_col is not None and email_col < len(row):
            raw_email = row[email_col]
        if len(row) < width:
            yield (
                line,
                _("The row has %(n)s columns, the header more.") % {"n": len(row)},
                raw_email,
            )
            continue
        try:
            yield (line, parse_row(row, mapping), raw_email)
        except ValidationError as exc:
            yield (line, " ".join(exc.messages), raw_email)


class _Progress:
    """``job.done`` in rows, written at most every ``PROGRESS_EVERY`` seconds. With a
    validation pass before the write pass, each pass is half of the bar."""

    def __init__(self, job: Job | None, passes: int) -> None:
        self.job = job
        self.passes = passes
        self.offset = 0  # rows of the passes before this one
        self.last = time.monotonic()

    def __call__(self, rows: int, *, force: bool = False) -> None:
        if self.job is None:
            return
        now = time.monotonic()
        if not force and now - self.last < PROGRESS_EVERY:
            return
        self.last = now
        done = (self.offset + rows) // self.passes
        Job.objects.filter(pk=self.job.pk).update(
            done=min(done, self.job.total or done), progress_at=timezone.now()
        )

    def next_pass(self, rows: int) -> None:
        self.offset += rows


def scan(
    upload: ImportFile,
    mapping: dict[int, str],
    *,
    count_existing: bool = True,
    progress: Callable[[int], None] | None = None,
) -> Scan:
    """Validate every row and count; writes nothing (the dry run and the validation pass)."""
    result = Scan()
    seen = _Seen()
    batch: list[str] = []

    def flush() -> None:
        if count_existing and batch:
            existing = Contact.objects.filter(tenant_id=upload.tenant_id, email__in=batch).count()
            result.existing += existing
            result.new += len(batch) - existing
        batch.clear()
        if progress is not None:
            progress(result.rows)

    for line, record, raw in _records(upload, mapping):
        result.rows += 1
        if isinstance(record, str):
            result.add_error(line, raw, record)
            if progress is not None and not result.rows % BATCH:
                progress(result.rows)  # a sign of life through long runs of invalid rows
            continue
        result.valid += 1
        if not seen.add(record.email):
            result.duplicates += 1
            if progress is not None and not result.rows % BATCH:
                progress(result.rows)  # and of duplicates, which fill no batch
            continue
        batch.append(record.email)
        if len(batch) >= BATCH:
            flush()
    flush()
    return result


# Columns the import sets per row; every other column of a new row (tenant, status, timestamps,
# whatever the models add later) gets the value a new model instance would have.
_CONTACT_COLUMNS = ("email", "first_name", "last_name", "language", "fields")


def _constants(
    model: type[models.Model], obj: models.Model, skip: set[str]
) -> list[tuple[str, str, Any]]:
    """(quoted column, cast type, database value) of every concrete column not in ``skip``, as
    saving the new instance ``obj`` would write it (defaults, ``auto_now`` timestamps)."""
    out = []
    for item in model._meta.concrete_fields:
        if item.primary_key or item.attname in skip:
            continue
        value = item.get_db_prep_save(item.pre_save(obj, add=True), connection)
        column = connection.ops.quote_name(str(item.column))
        out.append((column, str(item.cast_db_type(connection)), value))
    return out


def _row_constants(
    tenant: Tenant, text: str
) -> tuple[list[tuple[str, str, Any]], list[tuple[str, str, Any]]]:
    """The constant columns of a new contact and of its import consent record."""
    contact_consts = _constants(Contact, Contact(tenant=tenant), set(_CONTACT_COLUMNS))
    consent = ConsentRecord(tenant=tenant, source=ConsentSource.IMPORT, text=text)
    return contact_consts, _constants(ConsentRecord, consent, {"contact_id"})


def _upsert_postgresql(
    tenant: Tenant, records: dict[str, Record], first: set[str], text: str, list_id: int | None
) -> None:
    """COPY the batch into a temporary table, then one ``INSERT … ON CONFLICT DO UPDATE`` that
    also writes the consent records of the addresses first seen in this import."""
    quote = connection.ops.quote_name
    contact_consts, consent_consts = _row_constants(tenant, text)
    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE TEMPORARY TABLE IF NOT EXISTS mandant_contact_import ("
            " email text NOT NULL, first_name text NOT NULL, last_name text NOT NULL,"
            " language text NOT NULL, fields jsonb NOT NULL, consent boolean NOT NULL"
            ") ON COMMIT DELETE ROWS"
        )
        # Emptied on commit, but the batch may run inside an outer transaction (tests, a caller).
        cursor.execute("TRUNCATE mandant_contact_import")
        with cursor.cursor.copy(
            "COPY mandant_contact_import"
            " (email, first_name, last_name, language, fields, consent) FROM STDIN"
        ) as copy:
            for email, record in records.items():
                copy.write_row(
                    (
                        email,
                        record.first_name or "",
                        record.last_name or "",
                        record.language or "",
                        json.dumps(record.fields, ensure_ascii=False),
                        email in first,
                    )
                )
        contact_columns = ", ".join(
            [quote(c) for c in _CONTACT_COLUMNS] + [c for c, _t, _v in contact_consts]
        )
        contact_values = ", ".join(
            [f"s.{c}" for c in _CONTACT_COLUMNS] + [f"%s::{t}" for _c, t, _v in contact_consts]
        )
        consent_columns = ", ".join(["contact_id"] + [c for c, _t, _v in consent_consts])
        consent_values = ", ".join(["up.id"] + [f"%s::{t}" for _c, t, _v in consent_consts])
        cursor.execute(
            f"""
            WITH up AS (
                INSERT INTO {quote(Contact._meta.db_table)} AS c ({contact_columns})
                SELECT {contact_values} FROM mandant_contact_import s
                ON CONFLICT (tenant_id, email) DO UPDATE SET
                    first_name = COALESCE(NULLIF(EXCLUDED.first_name, ''), c.first_name),
                    last_name = COALESCE(NULLIF(EXCLUDED.last_name, ''), c.last_name),
                    language = COALESCE(NULLIF(EXCLUDED.language, ''), c.language),
                    fields = c.fields || EXCLUDED.fields,
                    updated_at = EXCLUDED.updated_at
                RETURNING c.id, c.email
            )
            INSERT INTO {quote(ConsentRecord._meta.db_table)} ({consent_columns})
            SELECT {consent_values}
            FROM up JOIN mandant_contact_import s ON s.email = up.email
            WHERE s.consent
            """,  # noqa: S608 (names from model metadata, values bound)
            [v for _c, _t, v in contact_consts] + [v for _c, _t, v in consent_consts],
        )
        if list_id is not None:
            cursor.execute(
                f"""
                INSERT INTO {quote(ListMembership._meta.db_table)}
                    (tenant_id, contact_list_id, contact_id, added_at)
                SELECT c.tenant_id, %s, c.id, %s
                FROM {quote(Contact._meta.db_table)} c
                JOIN mandant_contact_import s ON s.email = c.email
                WHERE c.tenant_id = %s
                ON CONFLICT (tenant_id, contact_list_id, contact_id) DO NOTHING
                """,  # noqa: S608 (names from model metadata, values bound)
                [list_id, timezone.now(), tenant.pk],
            )


def _upsert_sqlite(
    tenant: Tenant, records: dict[str, Record], first: set[str], text: str, list_id: int | None
) -> None:
    """One multi-row ``INSERT … ON CONFLICT DO UPDATE … RETURNING``, then the consent records
    with one ``executemany``."""
    quote = connection.ops.quote_name
    contact_consts, consent_consts = _row_constants(tenant, text)
    columns = [quote(c) for c in _CONTACT_COLUMNS] + [c for c, _t, _v in contact_consts]
    constant_values = [v for _c, _t, v in contact_consts]
    consent_columns = ["contact_id"] + [c for c, _t, _v in consent_consts]
    consent_values = [v for _c, _t, v in consent_consts]
    row = "(" + ", ".join(["%s"] * len(columns)) + ")"
    # SQLite binds at most 32,766 parameters per statement.
    per_statement = SQLITE_MAX_PARAMS // len(columns)
    items = list(records.items())
    for start in range(0, len(items), per_statement):
        part = items[start : start + per_statement]
        params: list[Any] = []
        for email, record in part:
            params += [
                email,
                record.first_name or "",
                record.last_name or "",
                record.language or "",
                json.dumps(record.fields, ensure_ascii=False),
                *constant_values,
            ]
        with connection.cursor() as cursor:
            cursor.execute(
                f"""
                INSERT INTO {quote(Contact._meta.db_table)} ({", ".join(columns)})
                VALUES {", ".join([row] * len(part))}
                ON CONFLICT (tenant_id, email) DO UPDATE SET
                    first_name = COALESCE(NULLIF(excluded.first_name, ''), first_name),
                    last_name = COALESCE(NULLIF(excluded.last_name, ''), last_name),
                    language = COALESCE(NULLIF(excluded.language, ''), language),
                    fields = json_patch(fields, excluded.fields),
                    updated_at = excluded.updated_at
                RETURNING id, email
                """,  # noqa: S608 (names from model metadata, values bound)
                params,
            )
            written = cursor.fetchall()
            ids = [pk for pk, email in written if email in first]
            cursor.executemany(
                f"INSERT INTO {quote(ConsentRecord._meta.db_table)} ({', '.join(consent_columns)})"  # noqa: S608 (names from model metadata, values bound)
                f" VALUES ({', '.join(['%s'] * len(consent_columns))})",
                [(pk, *consent_values) for pk in ids],
            )
            if list_id is not None:
                added_at = timezone.now()
                cursor.executemany(
                    f"INSERT INTO {quote(ListMembership._meta.db_table)}"  # noqa: S608 (names from model metadata, values bound)
                    " (tenant_id, contact_list_id, contact_id, added_at) VALUES (%s, %s, %s, %s)"
                    " ON CONFLICT (tenant_id, contact_list_id, contact_id) DO NOTHING",
                    [(tenant.pk, list_id, pk, added_at) for pk, _email in written],
                )


def _write_batch(
    tenant: Tenant, records: dict[str, Record], first: set[str], list_id: int | None
) -> None:
    """Upsert one batch (already merged by address, last row wins) in one transaction: names
    and language replaced where the file has a value, custom fields merged, the status never
    touched; a consent record for each address first seen in this import (``first``); every
    contact of the batch on the list ``list_id`` (when given; once, however often run)."""
    text = _("Imported from a CSV file.")
    with transaction.atomic():
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                # No WAL flush per batch: the job's final (synchronous) commit flushes every
                # batch before it, and after a crash the idempotent job is simply run again.
                cursor.execute("SET LOCAL synchronous_commit TO OFF")
            _upsert_postgresql(tenant, records, first, text, list_id)
        else:
            _upsert_sqlite(tenant, records, first, text, list_id)


def write(
    upload: ImportFile,
    mapping: dict[int, str],
    *,
    progress: Callable[[int], None] | None = None,
    list_id: int | None = None,
) -> Scan:
    """The write pass: valid rows upserted in batches (and put on the list ``list_id``);
    invalid ones reported."""
    tenant = upload.tenant
    result = Scan()
    seen = _Seen()
    pending: dict[str, Record] = {}
    first: set[str] = set()

    def flush() -> None:
        if pending:
            _write_batch(tenant, pending, first, list_id)
            pending.clear()
            first.clear()
        if progress is not None:
            progress(result.rows)

    for line, record, raw in _records(upload, mapping):
        result.rows += 1
        if isinstance(record, str):
            result.add_error(line, raw, record)
            if progress is not None and not result.rows % BATCH:
                progress(result.rows)  # a sign of life through long runs of invalid rows
            continue
        result.valid += 1
        if seen.add(record.email):
            first.add(record.email)
        else:
            result.duplicates += 1
        earlier = pending.pop(record.email, None)
        if earlier is not None:
            # Same address twice in a batch: merge, the later row wins. (Across batches the
            # upsert merges the same way.)
            record.fields = {**earlier.fields, **record.fields}
            for attr in ("first_name", "last_name", "language"):
                if getattr(record, attr) is None:
                    setattr(record, attr, getattr(earlier, attr))
        pending[record.email] = record
        if len(pending) >= BATCH:
            flush()
    flush()
    return result


def _count_lines(upload: ImportFile) -> int:
    """Data rows for the progress bar, counted as line ends in the raw bytes (no parsing; a
    quoted line break counts too, so this is an upper bound; the job sets the exact count)."""
    lines = 0
    last = b""
    for chunk in stored_chunks(upload.pk):
        lines += chunk.count(b"\n")
        last = chunk
    if last and not last.endswith(b"\n"):
        lines += 1
    return max(0, lines - 1)


def import_start(
    *,
    actor: Actor,
    tenant: Tenant,
    grant: RoleGrant | None,
    upload: ImportFile,
    mapping: dict[Any, Any],
    keep_valid: bool = False,
    list_id: Any = None,
) -> Job:
    """Queue the import of ``upload`` with the column ``mapping``; every imported contact also
    goes on the list ``list_id`` when one is given ("" or None: none)."""
    header, _preview = header_and_preview(upload)
    cleaned = clean_mapping(mapping, len(header))
    contact_list = None
    if list_id not in (None, ""):
        try:
            with scope(tenant=tenant.pk):
                contact_list = list_get(tenant=tenant, pk=list_id)
        except NotFound:
            raise ValidationError({"list_id": _("Choose a list of this tenant.")}) from None
    total = _count_lines(upload)
    with transaction.atomic(), scope(tenant=tenant.pk):
        job = Job.objects.create(
            tenant=tenant,
            kind=JobKind.CONTACT_IMPORT,
            total=total,
            params={
                "upload": upload.pk,
                "mapping": {str(k): v for k, v in cleaned.items()},
                "keep_valid": keep_valid,
                "file_name": upload.name,
                "list_id": contact_list.pk if contact_list is not None else None,
            },
            created_by=actor.user,
            created_via_api_key=actor.api_key,
            acting_role=grant.role if grant else None,
            role_source=grant.source if grant else None,
        )
        transaction.on_commit(lambda: _enqueue(job.pk))
    return job


def _enqueue(job_id: int) -> None:
    from mandant.contacts.tasks import contact_import

    contact_import.enqueue(job_id)


def _errors_out(result: Scan) -> list[list[Any]]:
    return [[line, email, message] for line, email, message in result.errors]


def refresh_statistics(imported: int) -> bool:
    """After a large import, ANALYZE the contacts (PostgreSQL's advice after a bulk load):
    until autovacuum gets to the table, the planner does not know the new rows and picks
    plans that read every contact of the tenant per lookup, in the first campaign sent to
    them. Returns whether it ran."""
    threshold = int(getattr(settings, "CONTACT_IMPORT_ANALYZE_ROWS", 10_000))
    if connection.vendor != "postgresql" or imported < threshold:
        return False
    table = connection.ops.quote_name(Contact._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(f"ANALYZE {table}")
    return True


def import_job_run(*, job_id: int) -> Job:
    """Run a contact import job (idempotent: the upsert may run twice)."""
    from django_scopes import scopes_disabled

    # The job's tenant is not known before the job is read: the worker passes only its id.
    with scopes_disabled():
        tenant_id = Job.objects.values_list("tenant_id", flat=True).get(pk=job_id)
    with scope(tenant=tenant_id):
        job = Job.objects.select_related("tenant", "created_by").get(pk=job_id)
        if job.finished:
            return job
        # Everything the job writes (errors, the consent note) is in the starter's language.
        with translation.override(job_language(job)):
            return _import_job_run(job)


def _import_job_run(job: Job) -> Job:
    now = timezone.now()
    Job.objects.filter(pk=job.pk).update(
        status=JobStatus.RUNNING,
        started_at=Coalesce(F("started_at"), now),
        progress_at=now,
    )
    checked: Scan | None = None
    result: Scan | None = None
    try:
        upload = ImportFile.objects.select_related("tenant").get(
            tenant=job.tenant, pk=job.params["upload"]
        )
        mapping = {int(k): v for k, v in job.params["mapping"].items()}
        keep_valid = bool(job.params.get("keep_valid"))
        progress = _Progress(job, 1 if keep_valid else 2)
        if not keep_valid:
            checked = scan(upload, mapping, count_existing=False, progress=progress)
            if checked.invalid:
                Job.objects.filter(pk=job.pk).update(
                    status=JobStatus.FAILED,
                    finished_at=timezone.now(),
                    done=0,
                    error=ngettext(
                        "%(n)s row is invalid: nothing was imported.",
                        "%(n)s rows are invalid: nothing was imported.",
                        checked.invalid,
                    )
                    % {"n": checked.invalid},
                    summary={
                        **checked.as_dict(),
                        "imported": 0,
                        "errors": _errors_out(checked),
                    },
                )
                job.refresh_from_db()
                return job
            progress.next_pass(checked.rows)
        list_id = job.params.get("list_id")
        if (
            list_id is not None
            and not ContactList.objects.filter(tenant=job.tenant, pk=list_id).exists()
        ):
            raise ValidationError(_("The list to add the contacts to has been deleted."))
        result = write(upload, mapping, progress=progress, list_id=list_id)
        refresh_statistics(result.valid - result.duplicates)
        summary = {
            **result.as_dict(),
            "imported": result.valid - result.duplicates,
            "errors": _errors_out(result),
        }
    except Exception as exc:
        logger.exception("Contact import job %s failed", job.pk)
        reason = " ".join(exc.messages) if isinstance(exc, ValidationError) else str(exc)
        Job.objects.filter(pk=job.pk).update(
            status=JobStatus.FAILED, finished_at=timezone.now(), error=reason[:500]
        )
        job.refresh_from_db()
        return job
    finally:
        for done_scan in (checked, result):
            if done_scan is not None:
                done_scan.close()
    job_finish(
        job,
        action="contact.import",
        changes=result.as_dict(),
        summary=summary,
        done=result.rows,
        total=result.rows,
    )
    job.refresh_from_db()
    return job
