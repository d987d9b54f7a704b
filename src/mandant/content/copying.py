"""Copy Content: push items and folders from a master tenant into the tenants below it.

The work is set-based so that 100 items into 1,000 sub-tenants takes seconds, not minutes:
per chunk of targets, a handful of queries read what the targets already have, the decisions
are made in Python, and the copies are written with ``INSERT … SELECT`` / ``UPDATE … =
(SELECT …)`` statements that move the content inside the database (one statement per group of
targets that need the same items), never row by row through the ORM.

Copies keep their source's lineage key, so references between copied items (campaign draft →
template → images) resolve to the copies in the target without rewriting (see models.py).
"""

import logging
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import connection, models, transaction
from django.db.models import F
from django.db.models.functions import Coalesce
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext
from django_scopes import scope, scopes_disabled

from mandant.accounts.roles import Action, role_allows
from mandant.audit.services import audit_record
from mandant.billing.features import COPY_CONTENT, require_feature
from mandant.content.models import (
    CONTENT_COLUMNS,
    ContentItem,
    ContentVersion,
    Folder,
)
from mandant.core.actor import Actor, RoleGrant
from mandant.core.errors import NotFound, PermissionDenied
from mandant.core.ids import storable_ids
from mandant.jobs.models import Job, JobKind, JobResult, JobStatus
from mandant.jobs.selectors import job_language
from mandant.jobs.services import job_finish
from mandant.tenants.models import Tenant, TenantType, TenantVersion, subtree_upper_bound
from mandant.tenants.selectors import effective_grant, in_subtree, tenant_filter

logger = logging.getLogger(__name__)


class CopyPolicy(models.TextChoices):
    OVERWRITE_UNCHANGED = (
        "overwrite_unchanged",
        gettext_lazy(
            "Overwrite only if the sub-tenant has not changed the item since the last copy"
        ),
    )
    OVERWRITE = "overwrite", gettext_lazy("Always overwrite")
    SKIP = "skip", gettext_lazy("Skip items the sub-tenant already has")


DEFAULT_POLICY = CopyPolicy.OVERWRITE_UNCHANGED

# Per-target outcomes, from the worst down: a target's outcome is the worst of its items.
OUTCOME_FAILED = "failed"
OUTCOME_CONFLICT = "conflict"
OUTCOME_UPDATED = "updated"
OUTCOME_COPIED = "copied"
OUTCOME_SKIPPED = "skipped"
COUNT_KEYS = ("copied", "updated", "skipped", "conflict")
MAX_DETAILS = 50  # per target: enough to act on, bounded for 1,000 targets


# --- starting a job ----------------------------------------------------------------------


def copy_target_choices(
    *, source: Tenant, q: str = "", type: str = "", version: str = "", limit: int = 500
) -> list[Tenant]:
    """The tenants below ``source`` (not itself), in tree order, for choosing targets."""
    return list(
        tenant_filter(root=source, q=q, type=type, version=version)
        .exclude(pk=source.pk)
        .defer("logo_png")[:limit]
    )


def _copy_grant(actor: Actor, source: Tenant) -> RoleGrant:
    grant = effective_grant(actor, source)
    if grant is None:
        raise NotFound
    if not role_allows(grant.role, Action.CONTENT_COPY):
        raise PermissionDenied(
            _("Copy Content needs the role Administrator or Customer Service in this tenant.")
        )
    return grant


def _strict_subtree(source: Tenant) -> models.QuerySet[Tenant]:
    """The tenants strictly below ``source``: copies never go upward or sideways."""
    return Tenant.objects.filter(
        path__gt=source.path, path__lt=subtree_upper_bound(source.path)
    ).exclude(pk=source.pk)


def _clean_ids(values: Iterable[Any]) -> list[int]:
    ids: list[int] = []
    for value in values:
        if isinstance(value, bool) or not isinstance(value, int | str):
            raise ValueError
        ids.append(int(value))
    return list(dict.fromkeys(ids))


def copy_content_start(
    *,
    actor: Actor,
    source: Tenant,
    item_ids: Sequence[int] = (),
    folder_ids: Sequence[int] = (),
    target_ids: Sequence[int] = (),
    all_descendants: bool = False,
    target_type: str = "",
    target_version: str = "",
    policy: str = DEFAULT_POLICY,
) -> Job:
    """Check a Copy Content request and queue it as a job. Raises ValidationError per field
    (``items``, ``folders``, ``targets``, ``policy``), PermissionDenied, NotFound."""
    grant = _copy_grant(actor, source)
    require_feature(source, COPY_CONTENT)
    errors: dict[str, list[str]] = {}
    if policy not in CopyPolicy.values:
        errors["policy"] = [
            _("Choose one of: %(choices)s.") % {"choices": ", ".join(CopyPolicy.values)}
        ]
    try:
        items = _clean_ids(item_ids)
        folders = _clean_ids(folder_ids)
    except (TypeError, ValueError):
        items, folders = [], []
        errors["items"] = [_("Items and folders are given by their numeric ids.")]
    with scope(tenant=source.pk):
        found_items = set(
            ContentItem.objects.filter(
                tenant=source, pk__in=storable_ids(items), deleted_at__isnull=True
            ).values_list("pk", flat=True)
        )
        found_folders = set(
            Folder.objects.filter(tenant=source, pk__in=storable_ids(folders)).values_list(
                "pk", flat=True
            )
        )
    if missing := [pk for pk in items if pk not in found_items]:
        errors.setdefault("items", []).append(
            _("These items are not in this tenant's library: %(ids)s.")
            % {"ids": ", ".join(map(str, missing))}
        )
    if missing := [pk for pk in folders if pk not in found_folders]:
        errors["folders"] = [
            _("These folders are not in this tenant's library: %(ids)s.")
            % {"ids": ", ".join(map(str, missing))}
        ]
    if not items and not folders and "items" not in errors:
        errors["items"] = [_("Choose at least one item or folder to copy.")]
    targets = _resolve_targets(
        source, target_ids, all_descendants, target_type, target_version, errors
    )
    if errors:
        raise ValidationError(errors)
    with transaction.atomic(), scope(tenant=source.pk):
        job = Job.objects.create(
            tenant=source,
            kind=JobKind.COPY_CONTENT,
            total=len(targets),
            params={
                "items": items,
                "folders": folders,
                "targets": targets,
                "all_descendants": all_descendants,
                "target_type": target_type,
                "target_version": target_version,
                "policy": policy,
            },
            created_by=actor.user,
            created_via_api_key=actor.api_key,
            acting_role=grant.role,
            role_source=grant.source,
        )
        transaction.on_commit(lambda: _enqueue(job.pk))
    return job


def _enqueue(job_id: int) -> None:
    from mandant.content.tasks import copy_content

    copy_content.enqueue(job_id)


def _resolve_targets(
    source: Tenant,
    target_ids: Sequence[int],
    all_descendants: bool,
    target_type: str,
    target_version: str,
    errors: dict[str, list[str]],
) -> list[int]:
    if target_type and target_type not in TenantType.values:
        errors["target_type"] = [
            _("Choose one of: %(choices)s.") % {"choices": ", ".join(TenantType.values)}
        ]
    if target_version and target_version not in TenantVersion.values:
        errors["target_version"] = [
            _("Choose one of: %(choices)s.") % {"choices": ", ".join(TenantVersion.values)}
        ]
    if "target_type" in errors or "target_version" in errors:
        return []
    below = _strict_subtree(source)
    if target_type:
        below = below.filter(type=target_type)
    if target_version:
        below = below.filter(version=target_version)
    if all_descendants:
        targets = list(below.order_by("path").values_list("pk", flat=True))
        if not targets:
            errors["targets"] = [_("There are no sub-tenants below this tenant to copy into.")]
        return targets
    try:
        wanted = _clean_ids(target_ids)
    except (TypeError, ValueError):
        errors["targets"] = [_("Target tenants are given by their numeric ids.")]
        return []
    if not wanted:
        errors["targets"] = [_("Choose at least one sub-tenant, or all sub-tenants.")]
        return []
    found = dict(below.filter(pk__in=storable_ids(wanted)).values_list("pk", "path"))
    if outside := [pk for pk in wanted if pk not in found]:
        # The same message whether a tenant exists elsewhere or not at all: nothing leaks.
        errors["targets"] = [
            _(
                "Content can only be copied into tenants below this one (never upward or "
                "sideways). Not below this tenant: %(ids)s."
            )
            % {"ids": ", ".join(map(str, outside))}
        ]
        return []
    return sorted(wanted, key=lambda pk: found[pk])


# --- the source plan ---------------------------------------------------------------------


@dataclass(frozen=True)
class SourceItem:
    id: int
    key: str
    kind: str
    name: str
    version: int
    refs: frozenset[str]  # lineage keys of the items it uses


@dataclass(frozen=True)
class SourceFolder:
    key: str
    name: str
    parent_key: str | None
    depth: int


@dataclass
class Plan:
    source: Tenant
    items: list[SourceItem]
    folders: list[SourceFolder]  # parents before children

    @property
    def keys(self) -> list[str]:
        return [item.key for item in self.items]


def _key(value: Any) -> str:
    return str(value)


def _refs(row: dict[str, Any]) -> frozenset[str]:
    keys = [*(row["block_keys"] or []), *(row["asset_keys"] or [])]
    if row["template_key"]:
        keys.append(row["template_key"])
    return frozenset(_key(key) for key in keys)


ITEM_PLAN_FIELDS = (
    "id",
    "key",
    "kind",
    "name",
    "version",
    "folder_id",
    "template_key",
    "block_keys",
    "asset_keys",
)


def _source_plan(source: Tenant, item_ids: Sequence[int], folder_ids: Sequence[int]) -> Plan:
    """The live items to copy: the chosen ones, everything in the chosen folders (and their
    sub-folders), and every item those use; plus the folders they sit in, with ancestors."""
    live = ContentItem.objects.filter(tenant=source, deleted_at__isnull=True)
    all_folders = {
        row["id"]: row
        for row in Folder.objects.filter(tenant=source).values("id", "key", "name", "parent_id")
    }
    children: dict[int | None, list[int]] = defaultdict(list)
    for row in all_folders.values():
        children[row["parent_id"]].append(row["id"])
    chosen_folders: set[int] = set()
    stack = [pk for pk in folder_ids if pk in all_folders]
    while stack:
        pk = stack.pop()
        if pk not in chosen_folders:
            chosen_folders.add(pk)
            stack.extend(children[pk])
    rows = {
        row["id"]: row
        for row in live.filter(
            models.Q(pk__in=item_ids) | models.Q(folder_id__in=chosen_folders)
        ).values(*ITEM_PLAN_FIELDS)
    }
    # The closure of references, a level at a time.
    have = {_key(row["key"]) for row in rows.values()}
    wanted = set().union(*(_refs(row) for row in rows.values())) - have
    while wanted:
        found = list(live.filter(key__in=wanted).values(*ITEM_PLAN_FIELDS))
        for row in found:
            rows[row["id"]] = row
        have |= wanted
        wanted = set().union(*(_refs(row) for row in found)) - have
    needed_folders = set(chosen_folders)
    for row in rows.values():
        folder_id = row["folder_id"]
        while folder_id is not None and folder_id not in needed_folders:
            needed_folders.add(folder_id)
            folder_id = all_folders[folder_id]["parent_id"]
    # Parents of chosen folders too (a chosen sub-folder keeps its place in the tree).
    for pk in list(needed_folders):
        parent = all_folders[pk]["parent_id"]
        while parent is not None and parent not in needed_folders:
            needed_folders.add(parent)
            parent = all_folders[parent]["parent_id"]

    def depth(pk: int) -> int:
        parent = all_folders[pk]["parent_id"]
        return 0 if parent is None else 1 + depth(parent)

    folders = sorted(
        (
            SourceFolder(
                key=_key(all_folders[pk]["key"]),
                name=all_folders[pk]["name"],
                parent_key=(
                    _key(all_folders[all_folders[pk]["parent_id"]]["key"])
                    if all_folders[pk]["parent_id"] is not None
                    else None
                ),
                depth=depth(pk),
            )
            for pk in needed_folders
        ),
        key=lambda folder: folder.depth,
    )
    items = [
        SourceItem(
            id=row["id"],
            key=_key(row["key"]),
            kind=row["kind"],
            name=row["name"],
            version=row["version"],
            refs=_refs(row),
        )
        for row in sorted(rows.values(), key=lambda row: row["id"])
    ]
    return Plan(source=source, items=items, folders=folders)


# --- copying into a chunk of targets -----------------------------------------------------


@dataclass
class TargetResult:
    target_id: int
    outcome: str = OUTCOME_SKIPPED
    reason: str = ""
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(COUNT_KEYS, 0))
    details: list[dict[str, Any]] = field(default_factory=list)

    def note(self, item: SourceItem, outcome: str, reason: str = "") -> None:
        self.counts[outcome] += 1
        if outcome in ("conflict", "skipped") and reason and len(self.details) < MAX_DETAILS:
            self.details.append(
                {"item_id": item.id, "name": item.name, "outcome": outcome, "reason": reason}
            )

    def finish(self) -> "TargetResult":
        if self.outcome == OUTCOME_FAILED:
            return self
        if self.counts["conflict"]:
            self.outcome = OUTCOME_CONFLICT
            self.reason = ngettext(
                "%(count)s item conflicts with the sub-tenant's own items.",
                "%(count)s items conflict with the sub-tenant's own items.",
                self.counts["conflict"],
            ) % {"count": self.counts["conflict"]}
        elif self.counts["updated"]:
            self.outcome = OUTCOME_UPDATED
        elif self.counts["copied"]:
            self.outcome = OUTCOME_COPIED
        else:
            self.outcome = OUTCOME_SKIPPED
            self.reason = _("Nothing to copy: the sub-tenant is up to date.")
        return self


@dataclass(frozen=True)
class Existing:
    id: int
    version: int
    copied_version: int | None
    origin_item_id: int | None
    origin_version: int | None
    deleted: bool


def _qn(name: str) -> str:
    return connection.ops.quote_name(name)


def _column(model: type[models.Model], name: str) -> str:
    field = model._meta.get_field(name)
    assert isinstance(field, models.Field) and field.column
    return _qn(field.column)


def _table(model: type[models.Model]) -> str:
    return _qn(model._meta.db_table)


def _placeholders(values: Sequence[Any]) -> str:
    return ", ".join(["%s"] * len(values))


def _db_now(now: datetime) -> Any:
    return connection.ops.adapt_datetimefield_value(now)


def _decide(
    policy: str,
    item: SourceItem,
    existing: Existing | None,
    name_taken: bool,
    forced: bool,
) -> tuple[str, str]:
    """What to do with one source item in one target: (action, reason).

    action: "insert", "update", "skipped" or "conflict".
    """
    if existing is None:
        if name_taken:
            return "conflict", _(
                "The sub-tenant has its own item with this name; it is not overwritten."
            )
        return "insert", ""
    if forced:
        return "update", ""
    changed = existing.deleted or existing.version != existing.copied_version
    up_to_date = (
        not changed
        and existing.origin_item_id == item.id
        and existing.origin_version == item.version
    )
    if policy == CopyPolicy.SKIP:
        return "skipped", _("The sub-tenant already has this item (policy: skip).")
    if up_to_date:
        return "skipped", ""
    if policy == CopyPolicy.OVERWRITE:
        return "update", ""
    if existing.deleted:
        return "skipped", _("The sub-tenant has moved this item to its bin.")
    if changed:
        return "skipped", _("The sub-tenant has changed this item since the last copy.")
    return "update", ""


def _copy_into(
    *,
    plan: Plan,
    target_ids: Sequence[int],
    policy: str,
    user_id: int | None,
    now: datetime,
    forced_keys: frozenset[str] = frozenset(),
) -> dict[int, TargetResult]:
    """Copy the plan into the targets; call inside a transaction. Returns a result per target."""
    source = plan.source
    valid = set(_strict_subtree(source).filter(pk__in=target_ids).values_list("pk", flat=True))
    results = {pk: TargetResult(target_id=pk) for pk in target_ids}
    for pk in target_ids:
        if pk not in valid:
            results[pk].outcome = OUTCOME_FAILED
            results[pk].reason = _(
                "The tenant no longer exists or is no longer below the source tenant."
            )
    targets = sorted(valid)
    if not targets or not plan.items:
        return {pk: result.finish() for pk, result in results.items()}
    _ensure_folders(plan, targets)
    keys = plan.keys
    existing: dict[tuple[int, str], Existing] = {}
    for row in ContentItem.objects.filter(tenant_id__in=targets, key__in=keys).values(
        "id",
        "tenant_id",
        "key",
        "version",
        "copied_version",
        "origin_item_id",
        "origin_version",
        "deleted_at",
    ):
        existing[(row["tenant_id"], _key(row["key"]))] = Existing(
            id=row["id"],
            version=row["version"],
            copied_version=row["copied_version"],
            origin_item_id=row["origin_item_id"],
            origin_version=row["origin_version"],
            deleted=row["deleted_at"] is not None,
        )
    taken = set(
        ContentItem.objects.filter(
            tenant_id__in=targets,
            name__in={item.name for item in plan.items},
            deleted_at__isnull=True,
        )
        .exclude(key__in=keys)
        .values_list("tenant_id", "kind", "name")
    )
    inserts: dict[frozenset[int], list[int]] = defaultdict(list)  # source ids -> targets
    updates: dict[int, list[int]] = defaultdict(list)  # source id -> target item ids
    for target in targets:
        actions: dict[str, tuple[str, str]] = {}
        for item in plan.items:
            actions[item.key] = _decide(
                policy,
                item,
                existing.get((target, item.key)),
                (target, item.kind, item.name) in taken,
                item.key in forced_keys,
            )
        _propagate_conflicts(plan, actions)
        result = results[target]
        to_insert: list[int] = []
        for item in plan.items:
            action, reason = actions[item.key]
            if action == "insert":
                to_insert.append(item.id)
                result.note(item, "copied")
            elif action == "update":
                updates[item.id].append(existing[(target, item.key)].id)
                result.note(item, "updated")
            else:
                result.note(item, action, reason)
        if to_insert:
            inserts[frozenset(to_insert)].append(target)
    for source_ids, group in inserts.items():
        _insert_copies(source, sorted(source_ids), group, user_id, now)
    by_item = {item.id: item for item in plan.items}
    for source_id, target_item_ids in updates.items():
        _update_copies(source, by_item[source_id], target_item_ids, user_id, now)
    return {pk: result.finish() for pk, result in results.items()}


def _propagate_conflicts(plan: Plan, actions: dict[str, tuple[str, str]]) -> None:
    """An item that uses a conflicting item is not copied either: its references would point
    to the sub-tenant's own, unrelated item."""
    changed = True
    while changed:
        changed = False
        conflicting = {key for key, (action, _r) in actions.items() if action == "conflict"}
        for item in plan.items:
            action, _reason = actions[item.key]
            if action in ("insert", "update") and (used := item.refs & conflicting):
                names = sorted(other.name for other in plan.items if other.key in used)
                actions[item.key] = (
                    "conflict",
                    _("It uses “%(names)s”, which conflicts with the sub-tenant's own item.")
                    % {"names": "”, “".join(names)},
                )
                changed = True


def _ensure_folders(plan: Plan, targets: list[int]) -> None:
    """Create the plan's folders (matched by lineage key) in every target that lacks them,
    parents first."""
    if not plan.folders:
        return
    keys = [folder.key for folder in plan.folders]
    ids: dict[tuple[int, str], int] = {
        (tenant_id, _key(key)): pk
        for tenant_id, key, pk in Folder.objects.filter(
            tenant_id__in=targets, key__in=keys
        ).values_list("tenant_id", "key", "pk")
    }
    for depth in sorted({folder.depth for folder in plan.folders}):
        level = [folder for folder in plan.folders if folder.depth == depth]
        missing = [
            Folder(
                tenant_id=target,
                key=folder.key,
                name=folder.name,
                parent_id=ids.get((target, folder.parent_key)) if folder.parent_key else None,
            )
            for target in targets
            for folder in level
            if (target, folder.key) not in ids
        ]
        if not missing:
            continue
        Folder.objects.bulk_create(missing)
        for tenant_id, key, pk in Folder.objects.filter(
            tenant_id__in=targets, key__in=[folder.key for folder in level]
        ).values_list("tenant_id", "key", "pk"):
            ids[(tenant_id, _key(key))] = pk


def _insert_copies(
    source: Tenant, source_ids: list[int], targets: list[int], user_id: int | None, now: datetime
) -> None:
    """One ``INSERT … SELECT``: every source item crossed with every target tenant."""
    item, folder, tenant = _table(ContentItem), _table(Folder), _table(Tenant)
    c = lambda name: _column(ContentItem, name)  # noqa: E731
    fc = lambda name: _column(Folder, name)  # noqa: E731
    content = [c(name) for name in CONTENT_COLUMNS]
    columns = [
        c("tenant"),
        c("key"),
        c("kind"),
        c("folder"),
        c("language"),
        *content,
        c("version"),
        c("created_at"),
        c("created_by"),
        c("updated_at"),
        c("updated_by"),
        c("origin_tenant"),
        c("origin_item_id"),
        c("origin_version"),
        c("copied_version"),
        c("copied_at"),
    ]
    stamp = _db_now(now)
    sql = (
        f"INSERT INTO {item} ({', '.join(columns)}) "  # noqa: S608 (names from model metadata, values bound)
        f"SELECT t.{_qn('id')}, s.{c('key')}, s.{c('kind')}, tf.{fc('id')}, "
        f"s.{c('language')}, {', '.join('s.' + col for col in content)}, "
        f"1, %s, %s, %s, %s, s.{c('tenant')}, s.{c('id')}, s.{c('version')}, 1, %s "
        f"FROM {item} s CROSS JOIN {tenant} t "
        f"LEFT JOIN {folder} sf ON sf.{fc('id')} = s.{c('folder')} "
        # The target's folder with the same lineage key (created by _ensure_folders).
        f"LEFT JOIN {folder} tf "
        f"ON tf.{fc('tenant')} = t.{_qn('id')} AND tf.{fc('key')} = sf.{fc('key')} "
        f"WHERE s.{c('tenant')} = %s AND s.{c('id')} IN ({_placeholders(source_ids)}) "
        f"AND t.{_qn('id')} IN ({_placeholders(targets)})"
    )
    params = [stamp, user_id, stamp, user_id, stamp, source.pk, *source_ids, *targets]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)


def _snapshot_versions(item_ids: list[int]) -> None:
    """Keep the current state of these items as past versions before they are overwritten."""
    item, version = _table(ContentItem), _table(ContentVersion)
    c = lambda name: _column(ContentItem, name)  # noqa: E731
    vc = lambda name: _column(ContentVersion, name)  # noqa: E731
    columns = [vc("tenant"), vc("item"), vc("number"), *(vc(n) for n in CONTENT_COLUMNS)]
    columns += [vc("saved_at"), vc("saved_by")]
    sql = (
        f"INSERT INTO {version} ({', '.join(columns)}) "  # noqa: S608 (names from model metadata, values bound)
        f"SELECT {c('tenant')}, {c('id')}, {c('version')}, "
        f"{', '.join(c(n) for n in CONTENT_COLUMNS)}, {c('updated_at')}, {c('updated_by')} "
        f"FROM {item} WHERE {c('id')} IN ({_placeholders(item_ids)})"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, item_ids)


def _update_copies(
    source: Tenant,
    source_item: SourceItem,
    item_ids: list[int],
    user_id: int | None,
    now: datetime,
) -> None:
    """Overwrite earlier copies (a new version of each, the old one kept) with the source."""
    _snapshot_versions(item_ids)
    item = _table(ContentItem)
    c = lambda name: _column(ContentItem, name)  # noqa: E731
    content = [c(name) for name in CONTENT_COLUMNS]
    stamp = _db_now(now)
    # Every right-hand side sees the row as it was: copied_version = the new version.
    sql = (
        f"UPDATE {item} SET ({', '.join(content)}) = "  # noqa: S608 (names from model metadata, values bound)
        f"(SELECT {', '.join('s.' + col for col in content)} FROM {item} s "
        f"WHERE s.{c('id')} = %s), "
        f"{c('version')} = {c('version')} + 1, {c('copied_version')} = {c('version')} + 1, "
        f"{c('origin_tenant')} = %s, {c('origin_item_id')} = %s, {c('origin_version')} = %s, "
        f"{c('copied_at')} = %s, {c('updated_at')} = %s, {c('updated_by')} = %s, "
        f"{c('deleted_at')} = NULL, {c('deleted_by')} = NULL "
        f"WHERE {c('id')} IN ({_placeholders(item_ids)})"
    )
    params = [
        source_item.id,
        source.pk,
        source_item.id,
        source_item.version,
        stamp,
        stamp,
        user_id,
        *item_ids,
    ]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)


# --- running a job -----------------------------------------------------------------------


def _chunks(values: list[int], size: int) -> Iterator[list[int]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


def _save_results(job: Job, results: Iterable[TargetResult]) -> None:
    rows = [
        JobResult(
            job=job,
            target_id=result.target_id,
            outcome=result.outcome,
            reason=str(result.reason),
            counts=result.counts,
            details=result.details,
        )
        for result in results
    ]
    JobResult.objects.bulk_create(rows)
    Job.objects.filter(pk=job.pk).update(done=F("done") + len(rows), progress_at=timezone.now())


def _failed(target_id: int) -> TargetResult:
    return TargetResult(
        target_id=target_id,
        outcome=OUTCOME_FAILED,
        reason=_(
            "Copying into this tenant failed; nothing was changed there. Our service staff "
            "have been informed. Run the job again to retry."
        ),
    )


def _run_chunk(job: Job, plan: Plan, chunk: list[int], user_id: int | None) -> None:
    policy = job.params.get("policy", DEFAULT_POLICY)
    try:
        with transaction.atomic():
            results = _copy_into(
                plan=plan, target_ids=chunk, policy=policy, user_id=user_id, now=timezone.now()
            )
            _save_results(job, results.values())
        return
    except Exception:
        logger.exception("Copy Content job %s: chunk failed, retrying target by target", job.pk)
    # One target at a time, so that a failing target does not undo the others.
    for target in chunk:
        try:
            with transaction.atomic():
                results = _copy_into(
                    plan=plan,
                    target_ids=[target],
                    policy=policy,
                    user_id=user_id,
                    now=timezone.now(),
                )
                _save_results(job, results.values())
        except Exception:
            logger.exception("Copy Content job %s: target %s failed", job.pk, target)
            with transaction.atomic():
                _save_results(job, [_failed(target)])


def _summary(job: Job) -> dict[str, Any]:
    totals: dict[str, int] = dict.fromkeys(COUNT_KEYS, 0)
    outcomes: dict[str, int] = defaultdict(int)
    for outcome, counts in JobResult.objects.filter(job=job).values_list("outcome", "counts"):
        outcomes[outcome] += 1
        for key in COUNT_KEYS:
            totals[key] += int(counts.get(key, 0))
    return {"items": totals, "targets": dict(outcomes)}


def copy_job_run(*, job_id: int) -> Job:
    """Run (or resume) a Copy Content job. Safe to run again: targets with a result are done,
    and the copy itself is idempotent through the lineage."""
    # A job reaches across the source's subtree by design; every statement below names the
    # tenants it touches explicitly.
    with scopes_disabled():
        job = Job.objects.select_related("tenant", "created_by").get(pk=job_id)
        if job.finished:
            return job
        now = timezone.now()
        Job.objects.filter(pk=job.pk).update(
            status=JobStatus.RUNNING,
            started_at=Coalesce(F("started_at"), now),
            progress_at=now,
        )
        # Everything the job writes is in the language of the user who started it.
        with translation.override(job_language(job)):
            try:
                plan = _source_plan(
                    job.tenant, job.params.get("items", []), job.params.get("folders", [])
                )
                done = set(JobResult.objects.filter(job=job).values_list("target_id", flat=True))
                remaining = [pk for pk in job.params.get("targets", []) if pk not in done]
                user_id = job.created_by_id
                for chunk in _chunks(remaining, max(1, settings.COPY_CONTENT_CHUNK)):
                    _run_chunk(job, plan, chunk, user_id)
            except Exception as exc:
                logger.exception("Copy Content job %s failed", job.pk)
                Job.objects.filter(pk=job.pk).update(
                    status=JobStatus.FAILED, finished_at=timezone.now(), error=str(exc)[:500]
                )
                job.refresh_from_db()
                return job
            _finish(job)
        job.refresh_from_db()
        return job


def _finish(job: Job) -> None:
    summary = _summary(job)
    job_finish(
        job,
        action="content.copy",
        changes={
            "policy": job.params.get("policy"),
            "item_ids": job.params.get("items", []),
            "folder_ids": job.params.get("folders", []),
            "target_count": len(job.params.get("targets", [])),
            **summary,
        },
        summary=summary,
    )


# --- "Get from master" -------------------------------------------------------------------


def copy_pull_item(*, actor: Actor, tenant: Tenant, item: ContentItem) -> ContentItem:
    """Fetch the current version of an inherited item from the tenant it was copied from
    (an ancestor), overwriting the local one; the local version stays in the history."""
    grant = effective_grant(actor, tenant)
    if grant is None or item.tenant_id != tenant.pk:
        raise NotFound
    if not role_allows(grant.role, Action.CONTENT_EDIT):
        raise PermissionDenied(_("Changing content needs at least the role Editor."))
    with scopes_disabled():  # the origin lives in an ancestor tenant, by construction
        origin_tenant = (
            Tenant.objects.filter(pk=item.origin_tenant_id).defer("logo_png").first()
            if item.origin_tenant_id
            else None
        )
        origin = (
            ContentItem.objects.filter(
                pk=item.origin_item_id, tenant_id=origin_tenant.pk, deleted_at__isnull=True
            ).first()
            if origin_tenant is not None and item.origin_item_id is not None
            else None
        )
        if (
            origin_tenant is None
            or origin is None
            or origin_tenant.pk == tenant.pk
            or not in_subtree(tenant.path, origin_tenant.path)
        ):
            raise ValidationError(
                _("This item has no master version to get: it was not copied from a master.")
            )
        with transaction.atomic():
            plan = _source_plan(origin_tenant, [origin.pk], [])
            results = _copy_into(
                plan=plan,
                target_ids=[tenant.pk],
                policy=CopyPolicy.SKIP,  # what it uses is only added where missing
                user_id=actor.user.pk,
                now=timezone.now(),
                forced_keys=frozenset({_key(origin.key)}),
            )
            result = results[tenant.pk]
            if result.outcome in (OUTCOME_FAILED, OUTCOME_CONFLICT):
                raise ValidationError(
                    "; ".join(
                        [str(result.reason)] + [str(detail["reason"]) for detail in result.details]
                    )
                )
            audit_record(
                actor=actor,
                action="content.item.pull",
                tenant=tenant,
                grant=grant,
                obj=item,
                changes={
                    "origin_tenant": origin_tenant.pk,
                    "origin_item": origin.pk,
                    "origin_version": origin.version,
                },
            )
        return ContentItem.objects.get(pk=item.pk)
