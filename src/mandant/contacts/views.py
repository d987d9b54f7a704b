"""Contacts pages under /t/<slug>/contacts/, the public one-click unsubscribe page and the
public sign-up form pages (double opt-in)."""

import csv
import ipaddress
from collections.abc import Iterator
from typing import Any

from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import (
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponseRedirect,
    JsonResponse,
    StreamingHttpResponse,
)
from django.shortcuts import redirect, render
from django.utils import translation
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_scopes import scope

from mandant.accounts.roles import Action
from mandant.contacts import importing, selectors, services, signup
from mandant.contacts.forms import (
    SEGMENT_ROWS,
    ContactForm,
    ListForm,
    MemberForm,
    SegmentForm,
    SignupFormForm,
)
from mandant.contacts.models import (
    ConsentRecord,
    Contact,
    ContactList,
    ContactStatus,
    ImportFile,
    Segment,
    SignupForm,
)
from mandant.contacts.normalize import normalize_email
from mandant.contacts.segments import FIELD_HELP, OP_LABELS, OPS, apply_rules, clean_rules
from mandant.contacts.services import contact_unsubscribe
from mandant.contacts.unsubscribe import read_token
from mandant.core.errors import NotFound
from mandant.core.web import (
    TenantRequest,
    apply_service_errors,
    request_may,
    require,
    tenant_view,
)
from mandant.jobs.models import Job, JobKind, JobStatus
from mandant.jobs.selectors import job_as_dict
from mandant.jobs.views import job_for_page, restart_and_show, stalled_context
from mandant.notices.services import supported_language
from mandant.tenants.models import Tenant

PAGE_SIZE = 50


@tenant_view(Action.CONTACT_VIEW)
@require_GET
def contact_list(request: TenantRequest) -> HttpResponse:
    q = request.GET.get("q", "").strip()
    status = request.GET.get("status", "")
    queryset = selectors.contact_search(tenant=request.tenant, q=q, status=status)
    page = Paginator(queryset, PAGE_SIZE).get_page(request.GET.get("page"))
    return render(
        request,
        "contacts/list.html",
        {"page": page, "q": q, "status": status, "statuses": ContactStatus.choices},
    )


class _Echo:
    def write(self, value: str) -> str:
        return value


@tenant_view(Action.CONTACT_VIEW)
@require_GET
def export(request: TenantRequest) -> HttpResponse:
    tenant = request.tenant
    writer = csv.writer(_Echo())

    def rows() -> Iterator[str]:
        # The generator runs after the view returned: it opens the tenant's scope itself.
        with scope(tenant=tenant.pk):
            yield writer.writerow(["email", "first_name", "last_name", "language", "status"])
            queryset = selectors.contact_search(tenant=tenant).order_by("pk")
            for batch in selectors.walk_by_id(queryset):
                for c in batch:
                    yield writer.writerow(
                        [c.email, c.first_name, c.last_name, c.language, c.status]
                    )

    response = StreamingHttpResponse(rows(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="contacts-{tenant.slug}.csv"'
    return response  # type: ignore[return-value]


@tenant_view(Action.CONTACT_IMPORT)
@require_http_methods(["GET", "POST"])
def import_upload(request: TenantRequest) -> HttpResponse:
    error = ""
    if request.method == "POST":
        upload = request.FILES.get("file")
        if upload is None:
            error = _("Choose a CSV file.")
        else:
            try:
                kept = importing.upload_create(
                    tenant=request.tenant, name=upload.name or "", data=upload
                )
            except ValidationError as exc:
                error = " ".join(exc.messages)
            else:
                return redirect("contacts:import_mapping", request.tenant.slug, kept.pk)
    return render(
        request, "contacts/import_upload.html", {"error": error}, status=422 if error else 200
    )


def _upload(request: TenantRequest, upload_id: int) -> ImportFile:
    # The file stays in the database: the wizard reads only what it shows (stored_rows).
    found = selectors.import_upload_get(tenant=request.tenant, pk=upload_id)
    if found is None:
        raise Http404
    return found


@tenant_view(Action.CONTACT_IMPORT)
@require_http_methods(["GET", "POST"])
def import_mapping(request: TenantRequest, upload_id: int) -> HttpResponse:
    upload = _upload(request, upload_id)
    try:
        header, preview = importing.header_and_preview(upload)
    except ValidationError as exc:
        error = " ".join(exc.messages)
        return render(request, "contacts/import_upload.html", {"error": error}, status=422)
    guessed = importing.guess_mapping(header)
    mapping: dict[Any, Any] = guessed
    errors: list[str] = []
    dry_run: dict[str, Any] | None = None
    keep_valid = False
    list_id = ""
    if request.method == "POST":
        mapping = {i: request.POST.get(f"col{i}", "") for i in range(len(header))}
        keep_valid = request.POST.get("keep_valid") == "on"
        list_id = request.POST.get("list_id", "")
        try:
            cleaned = importing.clean_mapping(mapping, len(header))
            if request.POST.get("action") == "dry_run":
                result = importing.scan(upload, cleaned)
                dry_run = {**result.as_dict(), "errors": result.errors[:50]}
            else:
                job = importing.import_start(
                    actor=request.actor,
                    tenant=request.tenant,
                    grant=request.grant,
                    upload=upload,
                    mapping=cleaned,
                    keep_valid=keep_valid,
                    list_id=list_id,
                )
                return redirect("contacts:job", request.tenant.slug, job.pk)
        except ValidationError as exc:
            errors = exc.messages
    columns = [
        (i, name, str(mapping.get(i, "")), [row[i] if i < len(row) else "" for row in preview])
        for i, name in enumerate(header)
    ]
    return render(
        request,
        "contacts/import_mapping.html",
        {
            "upload": upload,
            "encoding": ENCODING_LABELS.get(upload.encoding, upload.encoding.upper()),
            "columns": columns,
            "preview": preview,
            "errors": errors,
            "dry_run": dry_run,
            "keep_valid": keep_valid,
            "targets": list(importing.TARGET_LABELS.items()),
            "lists": selectors.lists_of_tenant(tenant=request.tenant),
            "list_id": list_id,
        },
        status=422 if errors else 200,
    )


ENCODING_LABELS = {"utf-8": "UTF-8", "utf-8-sig": "UTF-8", "cp1252": "Windows-1252 (Excel)"}


def _job(request: TenantRequest, job_id: int) -> Job:
    return job_for_page(request, job_id, JobKind.CONTACT_IMPORT)


@tenant_view(Action.CONTACT_VIEW)
@require_GET
def job_detail(request: TenantRequest, job_id: int) -> HttpResponse:
    job = _job(request, job_id)
    params = job.params or {}
    list_id = params.get("list_id")
    # A failed import (invalid rows): back to its mapping, to fix it or keep the valid rows.
    retry_upload = (
        selectors.import_upload_get(tenant=request.tenant, pk=params.get("upload"))
        if job.status == JobStatus.FAILED and request_may(request, Action.CONTACT_IMPORT)
        else None
    )
    return render(
        request,
        "contacts/job.html",
        {
            "job": job,
            "summary": job.summary or {},
            "retry_upload": retry_upload,
            "import_list": _import_list(request, list_id),
            **stalled_context(request, job, "contacts:job_restart"),
        },
    )


def _import_list(request: TenantRequest, list_id: Any) -> ContactList | None:
    """The list an import put its contacts on (None: none chosen, or deleted since)."""
    if not list_id:
        return None
    try:
        return selectors.list_get(tenant=request.tenant, pk=list_id)
    except NotFound:
        return None


@tenant_view(Action.CONTACT_IMPORT)
@require_POST
def job_restart(request: TenantRequest, job_id: int) -> HttpResponse:
    return restart_and_show(request, job_id, JobKind.CONTACT_IMPORT, "contacts:job")


@tenant_view(Action.CONTACT_VIEW)
@require_GET
def job_status(request: TenantRequest, job_id: int) -> HttpResponse:
    job = _job(request, job_id)
    data = job_as_dict(job, with_results=False)
    data["summary"] = {k: v for k, v in data["summary"].items() if k != "errors"}
    response = JsonResponse(data)
    response["Cache-Control"] = "no-store"
    return response


@tenant_view(Action.CONTACT_VIEW)
@require_GET
def job_errors(request: TenantRequest, job_id: int) -> HttpResponse:
    job = _job(request, job_id)
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="import-{job.pk}-errors.csv"'
    writer = csv.writer(response)
    writer.writerow(["line", "email", "error"])
    for row in (job.summary or {}).get("errors", []):
        writer.writerow(row)
    return response


# Mail clients POST the one-click unsubscribe (RFC 8058) without any cookie or CSRF token; the
# signed token in the URL is what authorises it, and it can only unsubscribe, so CSRF does not
# apply here.
@csrf_exempt
@require_http_methods(["GET", "POST"])
def unsubscribe(request: HttpRequest, token: str) -> HttpResponse:
    ids = read_token(token)
    if ids is None:
        raise Http404
    tenant = Tenant.objects.filter(pk=ids[0]).first()
    if tenant is None:
        raise Http404
    with scope(tenant=tenant.pk):
        try:
            contact = selectors.contact_get(tenant=tenant, pk=ids[1])
        except NotFound:
            raise Http404 from None
        language = contact.language if contact.language in ("de", "en") else "en"
        with translation.override(language):
            if request.method == "POST":
                one_click = request.POST.get("List-Unsubscribe") == "One-Click"
                contact_unsubscribe(
                    tenant=tenant, contact=contact, source="one_click" if one_click else "page"
                )
                return render(request, "contacts/unsubscribed.html", {"tenant": tenant})
            return render(
                request, "contacts/unsubscribe.html", {"tenant": tenant, "contact": contact}
            )


# --- contact detail, lists, segments ------------------------------------------------------


def _contact(request: TenantRequest, contact_id: int) -> Contact:
    try:
        return selectors.contact_get(tenant=request.tenant, pk=contact_id)
    except NotFound:
        raise Http404 from None


@tenant_view(Action.CONTACT_EDIT)
@require_http_methods(["GET", "POST"])
def contact_new(request: TenantRequest) -> HttpResponse:
    form = ContactForm(request.POST or None, initial={"status": ContactStatus.ACTIVE})
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            contact = services.contact_create(
                actor=request.actor,
                tenant=request.tenant,
                email=data["email"],
                first_name=data["first_name"],
                last_name=data["last_name"],
                language=data["language"],
                consent_ip=request.META.get("REMOTE_ADDR"),
            )
        except ValidationError as exc:
            apply_service_errors(form, exc)
        else:
            return redirect("contacts:detail", request.tenant.slug, contact.pk)
    status = 422 if request.method == "POST" else 200
    return render(request, "contacts/detail.html", {"form": form, "contact": None}, status=status)


@tenant_view(Action.CONTACT_VIEW)
@require_http_methods(["GET", "POST"])
def contact_detail(request: TenantRequest, contact_id: int) -> HttpResponse:
    contact = _contact(request, contact_id)
    initial = {k: getattr(contact, k) for k in ("email", "first_name", "last_name", "language")}
    form = ContactForm(request.POST or None, initial={**initial, "status": contact.status})
    if not request_may(request, Action.CONTACT_EDIT):
        for field in form.fields.values():
            field.disabled = True  # read only: the page offers no button either
    if request.method == "POST":
        require(request, Action.CONTACT_EDIT)
        if request.POST.get("action") == "delete":
            services.contact_delete(actor=request.actor, tenant=request.tenant, contact=contact)
            return redirect("contacts:list", request.tenant.slug)
        if form.is_valid():
            try:
                services.contact_update(
                    actor=request.actor,
                    tenant=request.tenant,
                    contact=contact,
                    **{k: v for k, v in form.cleaned_data.items() if k != "status" or v},
                )
            except ValidationError as exc:
                apply_service_errors(form, exc)
            else:
                return redirect("contacts:detail", request.tenant.slug, contact.pk)
    status = 422 if request.method == "POST" else 200
    consents = selectors.consents_of_contact(tenant=request.tenant, contact=contact)[:100]
    return render(
        request,
        "contacts/detail.html",
        {
            "form": form,
            "contact": contact,
            "consents": consents,
            "lists": selectors.lists_of_contact(tenant=request.tenant, contact=contact),
            "custom_fields": sorted((contact.fields or {}).items()),
        },
        status=status,
    )


@tenant_view(Action.CONTACT_VIEW)
@require_http_methods(["GET", "POST"])
def lists(request: TenantRequest) -> HttpResponse:
    form = ListForm(request.POST or None)
    if request.method == "POST":
        require(request, Action.CONTACT_EDIT)
        if form.is_valid():
            try:
                created = services.list_create(
                    actor=request.actor, tenant=request.tenant, name=form.cleaned_data["name"]
                )
            except ValidationError as exc:
                apply_service_errors(form, exc)
            else:
                return redirect("contacts:list_detail", request.tenant.slug, created.pk)
    all_lists = [
        (cl, selectors.list_members(tenant=request.tenant, contact_list=cl).count())
        for cl in selectors.lists_of_tenant(tenant=request.tenant)
    ]
    status = 422 if request.method == "POST" else 200
    return render(request, "contacts/lists.html", {"form": form, "lists": all_lists}, status=status)


@tenant_view(Action.CONTACT_VIEW)
@require_http_methods(["GET", "POST"])
def list_detail(request: TenantRequest, list_id: int) -> HttpResponse:
    try:
        contact_list = selectors.list_get(tenant=request.tenant, pk=list_id)
    except NotFound:
        raise Http404 from None
    form = MemberForm(request.POST or None)
    if request.method == "POST":
        require(request, Action.CONTACT_EDIT)
        action = request.POST.get("action", "add")
        if action == "remove":
            services.list_remove_members(
                actor=request.actor,
                tenant=request.tenant,
                contact_list=contact_list,
                contact_ids=[int(x) for x in request.POST.getlist("contact") if x.isdigit()],
            )
            return redirect("contacts:list_detail", request.tenant.slug, contact_list.pk)
        if action == "delete":
            services.list_delete(
                actor=request.actor, tenant=request.tenant, contact_list=contact_list
            )
            return redirect("contacts:lists", request.tenant.slug)
        if form.is_valid():
            found = selectors.contact_by_email(
                tenant=request.tenant, email=form.cleaned_data["email"]
            )
            if found is None:
                form.add_error("email", _("No contact with this address in this tenant."))
            else:
                services.list_add_members(
                    actor=request.actor,
                    tenant=request.tenant,
                    contact_list=contact_list,
                    contact_ids=[found.pk],
                )
                return redirect("contacts:list_detail", request.tenant.slug, contact_list.pk)
    members = Paginator(
        selectors.list_members(tenant=request.tenant, contact_list=contact_list), PAGE_SIZE
    ).get_page(request.GET.get("page"))
    status = 422 if request.method == "POST" else 200
    return render(
        request,
        "contacts/list_detail.html",
        {"contact_list": contact_list, "members": members, "form": form},
        status=status,
    )


@tenant_view(Action.CONTACT_VIEW)
@require_http_methods(["GET", "POST"])
def segments(request: TenantRequest, segment_id: int | None = None) -> HttpResponse:
    """The tenant's segments, and the form for a new one, or (``segment_id``) to change one."""
    editing = _segment(request, segment_id) if segment_id is not None else None
    initial = {"name": editing.name} if editing is not None else None
    form = SegmentForm(request.POST or None, initial=initial)
    preview: int | None = None
    unknown_fields: list[str] = []
    if request.method == "POST":
        require(request, Action.CONTACT_EDIT)
        if form.is_valid():
            rules = form.rules()
            try:
                if request.POST.get("action") == "preview":
                    cleaned = clean_rules(request.tenant, rules)
                    preview = apply_rules(
                        request.tenant, Contact.objects.filter(tenant=request.tenant), cleaned
                    ).count()
                    unknown_fields = selectors.unknown_custom_fields(
                        tenant=request.tenant, rules=cleaned
                    )
                else:
                    if editing is not None:
                        services.segment_update(
                            actor=request.actor,
                            tenant=request.tenant,
                            segment=editing,
                            name=form.cleaned_data["name"],
                            rules=rules,
                        )
                    else:
                        services.segment_create(
                            actor=request.actor,
                            tenant=request.tenant,
                            name=form.cleaned_data["name"],
                            rules=rules,
                        )
                    return redirect("contacts:segments", request.tenant.slug)
            except ValidationError as exc:
                apply_service_errors(form, exc)
    all_segments = [
        (
            s,
            selectors.segment_contacts(tenant=request.tenant, segment=s).count(),
            selectors.sendable_contacts(tenant=request.tenant, segment=s).count(),
        )
        for s in selectors.segments_of_tenant(tenant=request.tenant)
    ]
    status = 422 if request.method == "POST" and form.errors else 200
    return render(
        request,
        "contacts/segments.html",
        {
            "form": form,
            "editing": editing,
            "segments": all_segments,
            "preview": preview,
            "unknown_fields": unknown_fields,
            "rows": _segment_rows(request, editing),
            "ops": [(op, OP_LABELS[op]) for op in OPS],
            "segment_fields": FIELD_HELP,
        },
        status=status,
    )


def _segment(request: TenantRequest, segment_id: int) -> Segment:
    try:
        return selectors.segment_get(tenant=request.tenant, pk=segment_id)
    except NotFound:
        raise Http404 from None


def _segment_rows(
    request: TenantRequest, editing: Segment | None
) -> list[tuple[int, str, str, str]]:
    """(row, field, comparison, value) of the form: as posted, else the segment being changed
    (a list by its name, as people type it), else empty."""
    if request.method == "POST":
        posted = [
            (
                request.POST.get(f"field{i}", ""),
                request.POST.get(f"op{i}", "equals"),
                request.POST.get(f"value{i}", ""),
            )
            for i in range(SEGMENT_ROWS)
        ]
    else:
        conditions = editing.rules.get("conditions", []) if editing is not None else []
        names = {
            str(pk): name
            for pk, name in selectors.lists_of_tenant(tenant=request.tenant).values_list(
                "pk", "name"
            )
        }
        posted = [
            (
                c["field"],
                c["op"],
                names.get(c["value"], c["value"]) if c["field"] == "list" else c["value"],
            )
            for c in conditions
        ]
        posted += [("", "equals", "")] * (SEGMENT_ROWS - len(posted))
    return [(i, *row) for i, row in enumerate(posted[:SEGMENT_ROWS])]


@tenant_view(Action.CONTACT_EDIT)
@require_http_methods(["POST"])
def segment_delete(request: TenantRequest, segment_id: int) -> HttpResponse:
    try:
        segment = selectors.segment_get(tenant=request.tenant, pk=segment_id)
    except NotFound:
        raise Http404 from None
    services.segment_delete(actor=request.actor, tenant=request.tenant, segment=segment)
    return redirect("contacts:segments", request.tenant.slug)


# --- sign-up forms: management pages ----------------------------------------------------------


def _signup_form(request: TenantRequest, form_id: int) -> SignupForm:
    try:
        return selectors.signup_form_get(tenant=request.tenant, pk=form_id)
    except NotFound:
        raise Http404 from None


def _list_choices(request: TenantRequest) -> list[tuple[int, str]]:
    return [(cl.pk, cl.name) for cl in selectors.lists_of_tenant(tenant=request.tenant)]


def _embed_labels() -> dict[str, str]:
    return {
        "email": _("E-mail address"),
        "first_name": _("First name"),
        "last_name": _("Last name"),
        "submit": _("Sign up"),
    }


@tenant_view(Action.CONTACT_EDIT)
@require_GET
def signup_forms(request: TenantRequest) -> HttpResponse:
    forms = list(selectors.signup_forms_of_tenant(tenant=request.tenant))
    counts = selectors.signup_counts(tenant=request.tenant, forms=forms)
    rows = [(form, *counts.get(form.pk, (0, 0))) for form in forms]
    return render(request, "contacts/signup_forms.html", {"rows": rows})


@tenant_view(Action.CONTACT_EDIT)
@require_http_methods(["GET", "POST"])
def signup_form_new(request: TenantRequest) -> HttpResponse:
    form = SignupFormForm(
        request.POST or None,
        lists=_list_choices(request),
        initial={
            "languages": [translation.get_language() or "en"],
            "ask_first_name": True,
            "active": True,
        },
    )
    if request.method == "POST" and form.is_valid():
        try:
            created = services.signup_form_create(
                actor=request.actor, tenant=request.tenant, **form.cleaned_data
            )
        except ValidationError as exc:
            apply_service_errors(form, exc)
        else:
            return redirect("contacts:signup_form", request.tenant.slug, created.pk)
    status = 422 if request.method == "POST" else 200
    return render(
        request, "contacts/signup_form.html", {"form": form, "signup": None}, status=status
    )


@tenant_view(Action.CONTACT_EDIT)
@require_http_methods(["GET", "POST"])
def signup_form_detail(request: TenantRequest, form_id: int) -> HttpResponse:
    signup_form = _signup_form(request, form_id)
    initial = {
        "name": signup_form.name,
        "contact_list": signup_form.contact_list_id or "",
        "consent_text": signup_form.consent_text,
        "ask_first_name": signup_form.ask_first_name,
        "ask_last_name": signup_form.ask_last_name,
        "languages": signup_form.languages,
        "success_url": signup_form.success_url,
        "confirmed_url": signup_form.confirmed_url,
        "active": signup_form.active,
    }
    form = SignupFormForm(request.POST or None, lists=_list_choices(request), initial=initial)
    if request.method == "POST":
        if request.POST.get("action") == "delete":
            services.signup_form_delete(
                actor=request.actor, tenant=request.tenant, form=signup_form
            )
            return redirect("contacts:signup_forms", request.tenant.slug)
        if form.is_valid():
            try:
                services.signup_form_update(
                    actor=request.actor,
                    tenant=request.tenant,
                    form=signup_form,
                    **form.cleaned_data,
                )
            except ValidationError as exc:
                apply_service_errors(form, exc)
            else:
                return redirect("contacts:signup_form", request.tenant.slug, signup_form.pk)
    status = 422 if request.method == "POST" else 200
    return render(
        request,
        "contacts/signup_form.html",
        {
            "form": form,
            "signup": signup_form,
            "hosted_url": signup.form_url(signup_form),
            "snippet": signup.embed_snippet(signup_form, _embed_labels()),
        },
        status=status,
    )


# --- sign-up forms: the public pages ------------------------------------------------------------


def _client_ip(request: HttpRequest) -> str | None:
    # Behind a proxy, configure it to set REMOTE_ADDR (as for the login throttle).
    raw = str(request.META.get("REMOTE_ADDR") or "")
    try:
        return str(ipaddress.ip_address(raw))
    except ValueError:
        return None


def _after(url: str) -> HttpResponse | None:
    return HttpResponseRedirect(url, status=303) if url else None


# The form is embedded on the tenant's own web sites, so its POST comes from another origin
# without our CSRF cookie; it can only start a sign-up that needs the confirmation by mail.
# Bots are kept off by the honeypot field and the rate limit.
@csrf_exempt
@require_http_methods(["GET", "POST"])
def signup_form_page(request: HttpRequest, key: str) -> HttpResponse:
    form = selectors.signup_form_by_key(key)
    if form is None or not form.active or form.contact_list_id is None:
        raise Http404
    tenant = form.tenant
    language = signup.page_language(form, request)
    values = {
        name: str(request.POST.get(name, ""))[:254] for name in ("email", "first_name", "last_name")
    }
    errors: list[str] = []
    with scope(tenant=tenant.pk), translation.override(language):
        context: dict[str, Any] = {
            "signup": form,
            "tenant": tenant,
            "language": language,
            "languages": signup.form_languages(form),
            "values": values,
            "honeypot": signup.HONEYPOT_FIELD,
        }
        if request.method == "POST":
            if request.POST.get(signup.HONEYPOT_FIELD):
                # A bot: answer as if it worked, do nothing.
                return _after(form.success_url) or render(
                    request, "contacts/signup_thanks.html", context
                )
            try:
                email = normalize_email(values["email"])
            except ValidationError as exc:
                errors = exc.messages
            else:
                if signup.rate_limited(
                    ip=_client_ip(request) or "unknown", tenant_id=tenant.pk, email=email
                ):
                    return render(request, "contacts/signup_limited.html", context, status=429)
                try:
                    services.signup_submit(
                        form=form,
                        email=email,
                        first_name=values["first_name"],
                        last_name=values["last_name"],
                        language=language,
                        ip=_client_ip(request),
                    )
                except ValidationError as exc:
                    errors = exc.messages
                except NotFound:
                    raise Http404 from None
                else:
                    # The same answer for a new, a pending and a known address.
                    return _after(form.success_url) or render(
                        request, "contacts/signup_thanks.html", context
                    )
        context["errors"] = errors
        return render(request, "contacts/signup_page.html", context, status=422 if errors else 200)


def _invalid_link(
    request: HttpRequest, *, status: int, form: SignupForm | None = None
) -> HttpResponse:
    again = (
        signup.form_url(form)
        if form is not None and form.active and form.contact_list_id is not None
        else ""
    )
    return render(
        request,
        "contacts/signup_invalid.html",
        {"expired": status == 410, "again_url": again, "valid_days": signup.CONFIRM_DAYS},
        status=status,
    )


# The link comes from the confirmation mail: the signed token authorises the POST (the button
# on the page), and it can only confirm the sign-up it names, so no CSRF cookie is needed.
@csrf_exempt
@require_http_methods(["GET", "POST"])
def signup_confirm_page(request: HttpRequest, token: str) -> HttpResponse:
    ids = signup.read_confirm_token(token)
    if ids is None:
        return _invalid_link(request, status=400)
    tenant = Tenant.objects.filter(pk=ids.tenant_id).first()
    if tenant is None:
        return _invalid_link(request, status=400)
    with scope(tenant=tenant.pk):
        consent = (
            ConsentRecord.objects.filter(
                tenant=tenant, pk=ids.consent_id, contact_id=ids.contact_id, double_opt_in=True
            )
            .select_related("contact", "form")
            .first()
        )
        if consent is None:
            return _invalid_link(request, status=400)
        contact = consent.contact
        language = supported_language(contact.language or str(consent.data.get("language") or ""))
        with translation.override(language):
            if ids.expired and consent.confirmed_at is None:
                return _invalid_link(request, status=410, form=consent.form)
            context = {"tenant": tenant, "contact": contact, "consent": consent}
            if request.method == "POST":
                services.signup_confirm(
                    tenant=tenant,
                    contact_id=contact.pk,
                    consent_id=consent.pk,
                    ip=_client_ip(request),
                )
                form = consent.form
                if form is not None and form.confirmed_url:
                    return HttpResponseRedirect(form.confirmed_url, status=303)
                return render(request, "contacts/signup_confirmed.html", context)
            if consent.confirmed_at is not None:
                return render(request, "contacts/signup_confirmed.html", context)
            return render(request, "contacts/signup_confirm.html", context)
