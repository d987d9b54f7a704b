"""Contacts pages under /t/<slug>/contacts/ and the public one-click unsubscribe page."""

import csv
from collections.abc import Iterator
from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.utils import translation
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_http_methods
from django_scopes import scope

from mandant.accounts.roles import Action, grant_allows
from mandant.contacts import importing, selectors, services
from mandant.contacts.forms import SEGMENT_ROWS, ContactForm, ListForm, MemberForm, SegmentForm
from mandant.contacts.models import Contact, ContactStatus, ImportFile
from mandant.contacts.segments import OPS, apply_rules, clean_rules
from mandant.contacts.services import contact_unsubscribe
from mandant.contacts.unsubscribe import read_token
from mandant.core.errors import NotFound
from mandant.core.web import TenantRequest, apply_service_errors, tenant_view
from mandant.jobs.models import Job
from mandant.jobs.selectors import job_as_dict, job_get_for_actor
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
                    tenant=request.tenant, name=upload.name or "", data=upload.read()
                )
            except ValidationError as exc:
                error = " ".join(exc.messages)
            else:
                return redirect("contacts:import_mapping", request.tenant.slug, kept.pk)
    return render(
        request, "contacts/import_upload.html", {"error": error}, status=422 if error else 200
    )


def _upload(request: TenantRequest, upload_id: int) -> ImportFile:
    found = ImportFile.objects.filter(tenant=request.tenant, pk=upload_id).first()
    if found is None:
        raise Http404
    return found


@tenant_view(Action.CONTACT_IMPORT)
@require_http_methods(["GET", "POST"])
def import_mapping(request: TenantRequest, upload_id: int) -> HttpResponse:
    upload = _upload(request, upload_id)
    header, preview = importing.header_and_preview(upload)
    guessed = importing.guess_mapping(header)
    mapping: dict[Any, Any] = guessed
    errors: list[str] = []
    dry_run: dict[str, Any] | None = None
    keep_valid = False
    if request.method == "POST":
        mapping = {i: request.POST.get(f"col{i}", "") for i in range(len(header))}
        keep_valid = request.POST.get("keep_valid") == "on"
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
            "columns": columns,
            "preview": preview,
            "errors": errors,
            "dry_run": dry_run,
            "keep_valid": keep_valid,
            "targets": importing.STANDARD_TARGETS,
        },
        status=422 if errors else 200,
    )


def _job(request: TenantRequest, job_id: int) -> Job:
    try:
        return job_get_for_actor(request.actor, pk=job_id, tenant=request.tenant)
    except NotFound:
        raise Http404 from None


@tenant_view(Action.CONTACT_VIEW)
@require_GET
def job_detail(request: TenantRequest, job_id: int) -> HttpResponse:
    job = _job(request, job_id)
    return render(request, "contacts/job.html", {"job": job, "summary": job.summary or {}})


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
    if request.method == "POST":
        if not grant_allows(request.grant.role, Action.CONTACT_EDIT, inherited=True):
            raise DjangoPermissionDenied
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
    return render(
        request, "contacts/detail.html", {"form": form, "contact": contact}, status=status
    )


@tenant_view(Action.CONTACT_VIEW)
@require_http_methods(["GET", "POST"])
def lists(request: TenantRequest) -> HttpResponse:
    form = ListForm(request.POST or None)
    if request.method == "POST":
        if not grant_allows(request.grant.role, Action.CONTACT_EDIT, inherited=True):
            raise DjangoPermissionDenied
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
        if not grant_allows(request.grant.role, Action.CONTACT_EDIT, inherited=True):
            raise DjangoPermissionDenied
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
def segments(request: TenantRequest) -> HttpResponse:
    form = SegmentForm(request.POST or None)
    preview: int | None = None
    if request.method == "POST":
        if not grant_allows(request.grant.role, Action.CONTACT_EDIT, inherited=True):
            raise DjangoPermissionDenied
        if form.is_valid():
            rules = form.rules()
            try:
                if request.POST.get("action") == "preview":
                    cleaned = clean_rules(request.tenant, rules)
                    preview = apply_rules(
                        request.tenant, Contact.objects.filter(tenant=request.tenant), cleaned
                    ).count()
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
            "segments": all_segments,
            "preview": preview,
            "rows": [
                (
                    i,
                    request.POST.get(f"field{i}", ""),
                    request.POST.get(f"op{i}", "equals"),
                    request.POST.get(f"value{i}", ""),
                )
                for i in range(SEGMENT_ROWS)
            ],
            "ops": OPS,
        },
        status=status,
    )


@tenant_view(Action.CONTACT_EDIT)
@require_http_methods(["POST"])
def segment_delete(request: TenantRequest, segment_id: int) -> HttpResponse:
    try:
        segment = selectors.segment_get(tenant=request.tenant, pk=segment_id)
    except NotFound:
        raise Http404 from None
    services.segment_delete(actor=request.actor, tenant=request.tenant, segment=segment)
    return redirect("contacts:segments", request.tenant.slug)
