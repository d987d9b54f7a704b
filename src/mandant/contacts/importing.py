"""CSV import of contacts: detect the encoding and delimiter, map the header, validate, and
upsert in batches of 1,000 rows while streaming over the file (never all rows in memory).

Without "keep the valid rows", a first pass validates the whole file and, if any row is
invalid, nothing is written; only then does the write pass run. Each batch is one transaction;
the upsert is idempotent, so a job that died mid-way is simply run again.
"""

import codecs
import csv
import io
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.translation import gettext as _
from django_scopes import scope

from mandant.audit.services import audit_record
from mandant.contacts.models import ConsentRecord, ConsentSource, Contact, ImportFile
from mandant.contacts.normalize import normalize_email
from mandant.core.actor import Actor, RoleGrant
from mandant.jobs.models import Job, JobKind, JobStatus
from mandant.jobs.selectors import job_starter
from mandant.tenants.models import Tenant

logger = logging.getLogger(__name__)

BATCH = 1000
# The errors kept for the download (a file of a million bad rows is reported by its first ones).
ERRORS_KEPT = 10_000
PREVIEW_ROWS = 5
MAX_UPLOAD_BYTES = 200 * 1024 * 1024
STANDARD_TARGETS = ("email", "first_name", "last_name", "language")
SNIFF_BYTES = 64 * 1024


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
    errors: list[tuple[int, str, str]] = field(default_factory=list)  # line, email, message

    def as_dict(self) -> dict[str, Any]:
        return {
            "rows": self.rows,
            "valid": self.valid,
            "invalid": self.invalid,
            "new": self.new,
            "existing": self.existing,
            "duplicates": self.duplicates,
        }


def detect_encoding(data: bytes, tenant: Tenant) -> str:
    """UTF-8 (with or without BOM) when the bytes are UTF-8, else the tenant's charset."""
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
        raise ValidationError({"file": _("The file is not UTF-8 encoded. Save it as UTF-8 CSV.")})
    return charset


def detect_delimiter(first_line: str) -> str:
    return ";" if first_line.count(";") > first_line.count(",") else ","


def open_rows(data: bytes, encoding: str, delimiter: str) -> Iterator[list[str]]:
    # A text wrapper over the bytes: csv reads line by line, decoding as it goes.
    text = io.TextIOWrapper(io.BytesIO(data), encoding=encoding, newline="")
    return csv.reader(text, delimiter=delimiter)


def upload_create(*, tenant: Tenant, name: str, data: bytes) -> ImportFile:
    """Keep an uploaded CSV for the wizard and the job; ValidationError on ``file``."""
    if not data:
        raise ValidationError({"file": _("The file is empty.")})
    if len(data) > MAX_UPLOAD_BYTES:
        raise ValidationError({"file": _("The file is larger than 200 MB.")})
    encoding = detect_encoding(data, tenant)
    try:
        head = data[:SNIFF_BYTES].decode(encoding, errors="ignore")
    except LookupError:
        raise ValidationError({"file": _("Unknown character set.")}) from None
    first_line = head.splitlines()[0] if head.splitlines() else ""
    delimiter = detect_delimiter(first_line)
    try:
        header = next(open_rows(data, encoding, delimiter), [])
    except (csv.Error, UnicodeDecodeError):
        raise ValidationError({"file": _("The file is not a readable CSV file.")}) from None
    if not [h for h in header if h.strip()]:
        raise ValidationError({"file": _("The first row must name the columns.")})
    with scope(tenant=tenant.pk):
        return ImportFile.objects.create(
            tenant=tenant, name=name[:255], data=data, encoding=encoding, delimiter=delimiter
        )


def header_and_preview(upload: ImportFile) -> tuple[list[str], list[list[str]]]:
    rows = open_rows(bytes(upload.data), upload.encoding, upload.delimiter)
    header = next(rows, [])
    preview = []
    for row in rows:
        preview.append(row)
        if len(preview) >= PREVIEW_ROWS:
            break
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
    language = values["language"]
    if language is not None and len(language) > 8:
        raise ValidationError(_("Enter a language code such as de or en."))
    return Record(
        email=normalize_email(email),
        first_name=values["first_name"],
        last_name=values["last_name"],
        language=language,
        fields=fields,
    )


def _records(
    upload: ImportFile, mapping: dict[int, str]
) -> Iterator[tuple[int, Record | str, str]]:
    """(line number, record or error message, raw e-mail) for every data row."""
    rows = open_rows(bytes(upload.data), upload.encoding, upload.delimiter)
    try:
        next(rows)
    except StopIteration:
        return
    width = len(mapping) and max(mapping) + 1
    while True:
        try:
            row = next(rows)
        except StopIteration:
            return
        except (csv.Error, UnicodeDecodeError) as exc:
            # The reader cannot go on past a broken line (e.g. an unclosed quote at the end).
            yield (0, _("The file cannot be read further: %(e)s") % {"e": exc}, "")
            return
        line = rows.line_num  # type: ignore[attr-defined]
        if not any(cell.strip() for cell in row):
            continue
        raw_email = ""
        email_col = next((c for c, t in mapping.items() if t == "email"), None)
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


def scan(upload: ImportFile, mapping: dict[int, str], *, count_existing: bool = True) -> Scan:
    """Validate every row and count; writes nothing (the dry run and the validation pass)."""
    result = Scan()
    seen: set[str] = set()
    batch: list[str] = []

    def flush() -> None:
        if count_existing and batch:
            existing = Contact.objects.filter(tenant_id=upload.tenant_id, email__in=batch).count()
            result.existing += existing
            result.new += len(batch) - existing
        batch.clear()

    for line, record, raw in _records(upload, mapping):
        result.rows += 1
        if isinstance(record, str):
            result.invalid += 1
            if len(result.errors) < ERRORS_KEPT:
                result.errors.append((line, raw, record))
            continue
        result.valid += 1
        if record.email in seen:
            result.duplicates += 1
            continue
        seen.add(record.email)
        batch.append(record.email)
        if len(batch) >= BATCH:
            flush()
    flush()
    return result


def _write_batch(tenant: Tenant, records: dict[str, Record]) -> int:
    """Upsert one batch (already merged by address, last row wins); consent per contact."""
    with transaction.atomic():
        existing = {
            c.email: c for c in Contact.objects.filter(tenant=tenant, email__in=list(records))
        }
        now = timezone.now()
        rows = []
        for email, record in records.items():
            old = existing.get(email)
            rows.append(
                Contact(
                    tenant=tenant,
                    email=email,
                    first_name=record.first_name
                    if record.first_name is not None
                    else (old.first_name if old else ""),
                    last_name=record.last_name
                    if record.last_name is not None
                    else (old.last_name if old else ""),
                    language=record.language
                    if record.language is not None
                    else (old.language if old else ""),
                    fields={**(old.fields if old else {}), **record.fields},
                    created_at=now,
                    updated_at=now,
                )
            )
        Contact.objects.bulk_create(
            rows,
            update_conflicts=True,
            unique_fields=["tenant", "email"],
            update_fields=["first_name", "last_name", "language", "fields", "updated_at"],
        )
        ids = Contact.objects.filter(tenant=tenant, email__in=list(records)).values_list(
            "pk", flat=True
        )
        ConsentRecord.objects.bulk_create(
            [
                ConsentRecord(
                    tenant=tenant,
                    contact_id=pk,
                    source=ConsentSource.IMPORT,
                    text=_("Imported from a CSV file."),
                )
                for pk in ids
            ]
        )
    return len(records)


def write(upload: ImportFile, mapping: dict[int, str], *, job: Job | None = None) -> Scan:
    """The write pass: valid rows upserted in batches; invalid ones reported."""
    tenant = upload.tenant
    result = Scan()
    pending: dict[str, Record] = {}

    def flush() -> None:
        if pending:
            _write_batch(tenant, pending)
            pending.clear()
        if job is not None:
            Job.objects.filter(pk=job.pk).update(done=result.rows)

    for line, record, raw in _records(upload, mapping):
        result.rows += 1
        if isinstance(record, str):
            result.invalid += 1
            if len(result.errors) < ERRORS_KEPT:
                result.errors.append((line, raw, record))
            continue
        result.valid += 1
        if record.email in pending:
            result.duplicates += 1
            # Same address twice in a batch: merge, the later row wins.
            earlier = pending.pop(record.email)
            record.fields = {**earlier.fields, **record.fields}
            for attr in ("first_name", "last_name", "language"):
                if getattr(record, attr) is None:
                    setattr(record, attr, getattr(earlier, attr))
        pending[record.email] = record
        if len(pending) >= BATCH:
            flush()
    flush()
    return result


def import_start(
    *,
    actor: Actor,
    tenant: Tenant,
    grant: RoleGrant | None,
    upload: ImportFile,
    mapping: dict[Any, Any],
    keep_valid: bool = False,
) -> Job:
    header, _preview = header_and_preview(upload)
    cleaned = clean_mapping(mapping, len(header))
    # Count the rows for the progress bar (one quick pass, no parsing).
    total = max(
        0, sum(1 for _row in open_rows(bytes(upload.data), upload.encoding, upload.delimiter)) - 1
    )
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


def import_job_run(*, job_id: int) -> Job:
    """Run a contact import job (idempotent: the upsert may run twice)."""
    from django_scopes import scopes_disabled

    with scopes_disabled():
        tenant_id = Job.objects.values_list("tenant_id", flat=True).get(pk=job_id)
    with scope(tenant=tenant_id):
        job = Job.objects.select_related("tenant", "created_by").get(pk=job_id)
        if job.finished:
            return job
        Job.objects.filter(pk=job.pk).update(
            status=JobStatus.RUNNING, started_at=Coalesce(F("started_at"), timezone.now())
        )
        try:
            upload = ImportFile.objects.select_related("tenant").get(
                tenant=job.tenant, pk=job.params["upload"]
            )
            mapping = {int(k): v for k, v in job.params["mapping"].items()}
            if not job.params.get("keep_valid"):
                checked = scan(upload, mapping, count_existing=False)
                if checked.invalid:
                    Job.objects.filter(pk=job.pk).update(
                        status=JobStatus.FAILED,
                        finished_at=timezone.now(),
                        done=0,
                        error=_("%(n)s rows are invalid: nothing was imported.")
                        % {"n": checked.invalid},
                        summary={
                            **checked.as_dict(),
                            "imported": 0,
                            "errors": _errors_out(checked),
                        },
                    )
                    job.refresh_from_db()
                    return job
            result = write(upload, mapping, job=job)
        except Exception as exc:
            logger.exception("Contact import job %s failed", job.pk)
            Job.objects.filter(pk=job.pk).update(
                status=JobStatus.FAILED, finished_at=timezone.now(), error=str(exc)[:500]
            )
            job.refresh_from_db()
            return job
        summary = {
            **result.as_dict(),
            "imported": result.valid - result.duplicates,
            "errors": _errors_out(result),
        }
        with transaction.atomic():
            Job.objects.filter(pk=job.pk).update(
                status=JobStatus.DONE,
                finished_at=timezone.now(),
                summary=summary,
                done=result.rows,
                total=result.rows,
            )
            actor, grant = job_starter(job)
            audit_record(
                actor=actor,
                action="contact.import",
                tenant=job.tenant,
                grant=grant,
                obj=job,
                changes=result.as_dict(),
            )
        job.refresh_from_db()
        return job
