"""Copy Content pages: the form that starts a job, and the job's progress and results."""

from typing import Any

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.utils.translation import ngettext
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from mandant.accounts.roles import Action
from mandant.billing.features import COPY_CONTENT, feature_enabled, require_feature
from mandant.content import copying, selectors
from mandant.content.forms import POLICY_HELP, CopyForm
from mandant.content.models import ContentItem, Folder
from mandant.core.errors import NotFound, PermissionDenied
from mandant.core.web import TenantRequest, apply_service_errors, tenant_view
from mandant.jobs.models import Job, JobKind
from mandant.jobs.selectors import (
    job_as_dict,
    job_list,
    job_results,
)
from mandant.jobs.views import job_for_page, restart_and_show, stalled_context

TARGET_CHOICES_LIMIT = 500
# The chosen items listed by name on the form (all of them are copied either way).
LISTED_ITEMS_MAX = 200
JOBS_LISTED = 50


def _chosen_items(request: TenantRequest, ids: list[int]) -> list[ContentItem]:
    items = []
    for pk in ids[:LISTED_ITEMS_MAX]:
        try:
            items.append(selectors.item_get(tenant=request.tenant, pk=pk))
        except NotFound:
            continue
    return items


def _chosen_folders(request: TenantRequest, ids: list[int]) -> list[Folder]:
    wanted = set(ids)
    return [f for f, _depth in selectors.folder_tree(tenant=request.tenant) if f.pk in wanted]


def _copy_page(
    request: TenantRequest, form: CopyForm, *, status: int = 200, refusal: str = ""
) -> HttpResponse:
    tenant = request.tenant
    data = form.cleaned_data if hasattr(form, "cleaned_data") else {}
    item_ids: list[int] = data.get("items") or []
    folder_ids: list[int] = data.get("folders") or []
    chosen_targets: list[int] = data.get("targets") or []
    search = data.get("tq") or ""
    choices = copying.copy_target_choices(source=tenant, q=search, limit=TARGET_CHOICES_LIMIT)
    shown = {t.pk for t in choices}
    return render(
        request,
        "content/copy.html",
        {
            "form": form,
            # Why the copy cannot start at all (the product is missing), shown above the form.
            "refusal": refusal,
            "items": _chosen_items(request, item_ids),
            "item_ids": item_ids,
            "folders": _chosen_folders(request, folder_ids),
            "folder_ids": folder_ids,
            "targets": [(t, t.depth - tenant.depth - 1, t.pk in chosen_targets) for t in choices],
            "hidden_targets": [pk for pk in chosen_targets if pk not in shown],
            "targets_limited": len(choices) >= TARGET_CHOICES_LIMIT,
            "search": search,
            "scope": data.get("scope") or "chosen",
            "policy": data.get("policy") or copying.DEFAULT_POLICY,
            "policies": [
                (value, label, POLICY_HELP.get(value, ""))
                for value, label in copying.CopyPolicy.choices
            ],
            "show_errors": request.method == "POST",
        },
        status=status,
    )


@tenant_view(Action.CONTENT_COPY)
@require_http_methods(["GET", "POST"])
def copy_content(request: TenantRequest) -> HttpResponse:
    """Copy Content: the library's selection arrives by GET; "Start" POSTs."""
    if request.method == "GET":
        query = request.GET.copy()
        query.setdefault("scope", "chosen")
        query.setdefault("policy", copying.DEFAULT_POLICY)
        form = CopyForm(query)
        form.is_valid()
        if not feature_enabled(request.tenant, COPY_CONTENT):
            # Not offered: say which product unlocks it (the POST would be refused the same).
            try:
                require_feature(request.tenant, COPY_CONTENT)
            except PermissionDenied as exc:
                return _copy_page(request, form, status=403, refusal=exc.message)
        return _copy_page(request, form)
    form = CopyForm(request.POST)
    if not form.is_valid():
        return _copy_page(request, form, status=422)
    if request.POST.get("action") == "search":
        # The search box of the target list, without JavaScript: same page, inputs kept.
        return _copy_page(request, form)
    data: dict[str, Any] = form.cleaned_data
    all_descendants = data["scope"] == "all"
    try:
        job = copying.copy_content_start(
            actor=request.actor,
            source=request.tenant,
            item_ids=data["items"],
            folder_ids=data["folders"],
            target_ids=[] if all_descendants else data["targets"],
            all_descendants=all_descendants,
            target_type=data["target_type"] if all_descendants else "",
            target_version=data["target_version"] if all_descendants else "",
            policy=data["policy"],
        )
    except ValidationError as exc:
        apply_service_errors(form, exc)
        return _copy_page(request, form, status=422)
    except PermissionDenied as exc:
        return _copy_page(request, form, status=403, refusal=exc.message)
    except NotFound:
        raise Http404 from None
    messages.success(
        request,
        ngettext(
            "Copy Content has started for %(count)s sub-tenant.",
            "Copy Content has started for %(count)s sub-tenants.",
            job.total,
        )
        % {"count": job.total},
    )
    return redirect("content:job", request.tenant.slug, job.pk)


def _job(request: TenantRequest, job_id: int) -> Job:
    return job_for_page(request, job_id, JobKind.COPY_CONTENT)


@tenant_view(Action.CONTENT_VIEW)
@require_GET
def job_list_view(request: TenantRequest) -> HttpResponse:
    return render(
        request,
        "content/jobs.html",
        {"jobs": job_list(tenant=request.tenant, kind=JobKind.COPY_CONTENT, limit=JOBS_LISTED)},
    )


@tenant_view(Action.CONTENT_VIEW)
@require_GET
def job_detail(request: TenantRequest, job_id: int) -> HttpResponse:
    job = _job(request, job_id)
    results = job_results(job=job)
    totals: dict[str, Any] = (job.summary or {}).get("items", {})
    return render(
        request,
        "content/job.html",
        {
            "job": job,
            **stalled_context(request, job, "content:job_restart"),
            "results": results,
            "totals": totals,
            "policy_label": dict(copying.CopyPolicy.choices).get(
                str((job.params or {}).get("policy", ""))
            ),
        },
    )


@tenant_view(Action.CONTENT_COPY)
@require_POST
def job_restart(request: TenantRequest, job_id: int) -> HttpResponse:
    return restart_and_show(request, job_id, JobKind.COPY_CONTENT, "content:job")


@tenant_view(Action.CONTENT_VIEW)
@require_GET
def job_status(request: TenantRequest, job_id: int) -> HttpResponse:
    """Progress for the job page's script (polled every second while the job runs)."""
    job = _job(request, job_id)
    response = JsonResponse(job_as_dict(job, with_results=job.finished))
    response["Cache-Control"] = "no-store"
    return response
