"""Every write to tenants. Keyword-only arguments, explicit actor, one transaction, audited."""

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, connections, transaction
from django.db.models import F, Max
from django.utils import timezone
from django.utils.text import slugify
from django.utils.translation import gettext as _

from mandant.accounts.roles import Action, Role, grant_allows, role_allows
from mandant.audit.services import audit_record
from mandant.content.standard import standard_content_provision
from mandant.core.actor import Actor, RoleGrant
from mandant.core.errors import NotFound, PermissionDenied
from mandant.tenants.logo import ProcessedLogo, process_logo, read_bounded
from mandant.tenants.models import (
    PATH_MAX_LENGTH,
    PATH_STEP_WIDTH,
    Charset,
    Tenant,
    TenantStatus,
    TenantType,
    TenantVersion,
)
from mandant.tenants.names import clean_tenant_name, tenant_name_key
from mandant.tenants.selectors import (
    effective_grant,
    handover_conditions,
    tenant_management_active_for,
)

ROOT_PATH = "1".zfill(PATH_STEP_WIDTH)
MAX_CHILDREN = 10**PATH_STEP_WIDTH - 1


@dataclass(frozen=True)
class LogoUpload:
    data: bytes
    filename: str
    size: int | None = None

    @classmethod
    def from_file(cls, file: Any, filename: str | None = None) -> "LogoUpload":
        data, size = read_bounded(file)
        return cls(data=data, filename=filename or getattr(file, "name", "") or "", size=size)


def _name_taken_error() -> ValidationError:
    return ValidationError(
        {
            "name": ValidationError(
                _(
                    "A tenant with this name already exists. Names are unique on the platform, "
                    "regardless of case."
                ),
                code="name_taken",
            )
        }
    )


def _check_choice(value: str, choices: type, field: str, label: str) -> None:
    if value not in choices.values:  # type: ignore[attr-defined]
        raise ValidationError(
            {
                field: ValidationError(
                    _("“%(value)s” is not a valid %(label)s. Choose one of: %(choices)s.")
                    % {"value": value, "label": label, "choices": ", ".join(choices.values)},  # type: ignore[attr-defined]
                    code="invalid_choice",
                )
            }
        )


def _check_charset(tenant_type: str, charset: str | None) -> str:
    if tenant_type == TenantType.STANDARD:
        if charset not in (None, "", Charset.UTF_8):
            raise ValidationError(
                {
                    "charset": ValidationError(
                        _(
                            "STANDARD tenants always use UTF-8, to avoid charset problems later. "
                            "Choose type CUSTOM for another charset."
                        ),
                        code="standard_is_utf8",
                    )
                }
            )
        return Charset.UTF_8
    charset = charset or Charset.UTF_8
    _check_choice(charset, Charset, "charset", _("charset"))
    return charset


_GERMAN_SPELLED_OUT = str.maketrans(
    {"ä": "ae", "ö": "oe", "ü": "ue", "Ä": "Ae", "Ö": "Oe", "Ü": "Ue", "ß": "ss", "ẞ": "SS"}
)


def _slug_base(name: str) -> str:
    # German spelling first ("Prüf" is "pruef", not "pruf"), then Django's ASCII folding.
    return slugify(name.translate(_GERMAN_SPELLED_OUT))[:100] or "tenant"


def _unique_slug(name: str, reserved: set[str] | frozenset[str] = frozenset()) -> str:
    """A free slug for ``name``; ``reserved`` holds slugs taken by a batch not yet saved."""
    base = _slug_base(name)
    candidate, counter = base, 1
    while candidate in reserved or Tenant.objects.filter(slug=candidate).exists():
        counter += 1
        candidate = f"{base}-{counter}"
    return candidate


def _next_child_path(master: Tenant) -> str:
    return _child_path(master, _next_child_step(master))


def _next_child_step(master: Tenant) -> int:
    last = Tenant.objects.filter(parent=master).aggregate(last=Max("path"))["last"]
    return int(last[-PATH_STEP_WIDTH:]) + 1 if last else 1


def _child_path(master: Tenant, step: int) -> str:
    # The path column bounds the depth too (255 // 6 levels): refuse, never overflow it.
    too_deep = len(master.path) + PATH_STEP_WIDTH > PATH_MAX_LENGTH
    if step > MAX_CHILDREN or too_deep:
        raise ValidationError(
            {"master": _("This master tenant cannot take more sub-tenants.")}, code="full"
        )
    return master.path + str(step).zfill(PATH_STEP_WIDTH)


def _require_create_permission(actor: Actor, master: Tenant) -> RoleGrant:
    grant = effective_grant(actor, master)
    if grant is None:
        raise NotFound
    if not role_allows(grant.role, Action.TENANT_CREATE_SUBTENANT):
        raise PermissionDenied(
            _(
                "Creating tenants needs the role Administrator or Customer Service in the "
                "master tenant."
            )
        )
    if not tenant_management_active_for(actor, grant):
        raise PermissionDenied(
            _(
                "The product Tenant management is not active for your tenant. Please contact "
                "our service team to activate it."
            )
        )
    return grant


def _read_logo(logo: LogoUpload | None) -> ProcessedLogo | None:
    if logo is None:
        return None
    try:
        return process_logo(logo.data, logo.filename, logo.size)
    except ValidationError as exc:
        raise ValidationError({"logo": exc}) from exc


def _clean_create_input(
    *, name: str, type: str, version: str, charset: str | None, logo: LogoUpload | None
) -> tuple[str, str, ProcessedLogo | None]:
    """The checked name, charset and logo of a new tenant; one ValidationError for all fields."""
    errors: dict[str, list[ValidationError]] = {}
    try:
        clean_name = clean_tenant_name(name)
    except ValidationError as exc:
        errors["name"] = [exc]
        clean_name = ""
    for field, value, choices, label in (
        ("type", type, TenantType, _("type")),
        ("version", version, TenantVersion, _("version")),
    ):
        try:
            _check_choice(value, choices, field, label)
        except ValidationError as exc:
            errors.setdefault(field, []).extend(exc.error_dict[field])
    clean_charset: str = Charset.UTF_8
    if "type" not in errors:
        try:
            clean_charset = _check_charset(type, charset)
        except ValidationError as exc:
            errors.update(exc.error_dict)
    processed_logo = None
    try:
        processed_logo = _read_logo(logo)
    except ValidationError as exc:
        errors.update(exc.error_dict)
    if errors:
        raise ValidationError(errors)
    return clean_name, clean_charset, processed_logo


def tenant_create(
    *,
    actor: Actor,
    name: str,
    type: str,
    version: str,
    master: Tenant,
    charset: str | None = None,
    logo: LogoUpload | None = None,
) -> Tenant:
    """Create a sub-tenant of ``master``. Raises ValidationError, PermissionDenied, NotFound."""
    clean_name, clean_charset, processed_logo = _clean_create_input(
        name=name, type=type, version=version, charset=charset, logo=logo
    )
    grant = _require_create_permission(actor, master)
    name_key = tenant_name_key(clean_name)
    try:
        with transaction.atomic():
            # Lock the master row so concurrent creations get distinct paths.
            locked_master = (
                Tenant.objects.select_for_update().only("pk", "path", "depth").get(pk=master.pk)
            )
            if Tenant.objects.filter(name_key=name_key).exists():
                raise _name_taken_error()
            tenant = _new_tenant(
                actor=actor,
                master=locked_master,
                name=clean_name,
                name_key=name_key,
                slug=_unique_slug(clean_name),
                path=_next_child_path(locked_master),
                type=type,
                version=version,
                charset=clean_charset,
            )
            if processed_logo is not None:
                _apply_logo(tenant, processed_logo)
            tenant.save(force_insert=True)
            if tenant.type == TenantType.STANDARD:
                standard_content_provision(tenants=[tenant], user=actor.user)
            Tenant.objects.filter(pk=locked_master.pk).update(child_count=F("child_count") + 1)
            _audit_create(actor, grant, tenant, logo=processed_logo is not None)
    except IntegrityError as exc:
        # Lost a race for the same name between the check and the insert.
        if Tenant.objects.filter(name_key=name_key).exists():
            raise _name_taken_error() from exc
        raise
    return tenant


def _new_tenant(
    *,
    actor: Actor,
    master: Tenant,
    name: str,
    name_key: str,
    slug: str,
    path: str,
    type: str,
    version: str,
    charset: str,
) -> Tenant:
    return Tenant(
        name=name,
        name_key=name_key,
        slug=slug,
        type=type,
        version=version,
        parent_id=master.pk,
        path=path,
        depth=master.depth + 1,
        charset=charset,
        status=(
            TenantStatus.AWAITING_CONFIGURATION
            if type == TenantType.CUSTOM
            else TenantStatus.IN_SETUP
        ),
        created_by=actor.user,
    )


def _audit_create(actor: Actor, grant: RoleGrant, tenant: Tenant, *, logo: bool) -> None:
    audit_record(
        actor=actor,
        action="tenant.create",
        tenant=tenant,
        grant=grant,
        obj=tenant,
        changes={
            "name": tenant.name,
            "type": tenant.type,
            "version": tenant.version,
            "master": tenant.parent_id,
            "charset": tenant.charset,
            "logo": logo,
        },
    )


@dataclass(frozen=True)
class NewTenant:
    """One row of ``tenant_create_many``: the arguments of ``tenant_create`` without a logo."""

    name: str
    type: str = TenantType.STANDARD
    version: str = TenantVersion.BASIC
    charset: str | None = None


def tenant_create_many(
    *, actor: Actor, master: Tenant, rows: Sequence[NewTenant]
) -> list[Tenant | ValidationError | PermissionDenied]:
    """Create sub-tenants of ``master`` for imports, with the rules of ``tenant_create``.

    Per call: one permission check, one lock of the master, one transaction, one INSERT for
    the tenants (plus one audit row each) -- about ten times faster than ``tenant_create``
    per row (docs/benchmarks.md). Callers pass batches of a few hundred rows. Returns, per
    row, the new tenant or the error that refused it; the other rows are still created.
    Raises NotFound when the master is out of the actor's reach.
    """
    results: list[Tenant | ValidationError | PermissionDenied | None] = [None] * len(rows)
    valid: list[tuple[int, NewTenant, str, str]] = []  # index, row, clean name, charset
    for index, row in enumerate(rows):
        try:
            clean_name, clean_charset, _logo = _clean_create_input(
                name=row.name, type=row.type, version=row.version, charset=row.charset, logo=None
            )
        except ValidationError as exc:
            results[index] = exc
        else:
            valid.append((index, row, clean_name, clean_charset))
    if valid:
        try:
            grant = _require_create_permission(actor, master)
        except PermissionDenied as exc:
            for index, *_rest in valid:
                results[index] = exc
            valid = []
    if valid:
        try:
            with transaction.atomic():
                _create_many_locked(actor, grant, master, valid, results)
        except IntegrityError:
            # Lost a race with a concurrent creation: these rows one by one, as usual.
            for index, row, _name, _charset in valid:
                try:
                    results[index] = tenant_create(
                        actor=actor,
                        name=row.name,
                        type=row.type,
                        version=row.version,
                        master=master,
                        charset=row.charset,
                    )
                except (ValidationError, PermissionDenied) as exc:
                    results[index] = exc
    assert all(result is not None for result in results)
    return results  # type: ignore[return-value]


def _create_many_locked(
    actor: Actor,
    grant: RoleGrant,
    master: Tenant,
    valid: list[tuple[int, NewTenant, str, str]],
    results: list[Tenant | ValidationError | PermissionDenied | None],
) -> None:
    locked_master = Tenant.objects.select_for_update().only("pk", "path", "depth").get(pk=master.pk)
    keys = {tenant_name_key(name) for _index, _row, name, _charset in valid}
    taken = set(Tenant.objects.filter(name_key__in=keys).values_list("name_key", flat=True))
    bases = {_slug_base(name) for _index, _row, name, _charset in valid}
    slugs_in_use = set(Tenant.objects.filter(slug__in=bases).values_list("slug", flat=True))
    reserved: set[str] = set()
    step = _next_child_step(locked_master)
    created: list[tuple[int, Tenant]] = []
    for index, row, clean_name, clean_charset in valid:
        name_key = tenant_name_key(clean_name)
        if name_key in taken:
            results[index] = _name_taken_error()
            continue
        try:
            path = _child_path(locked_master, step)
        except ValidationError as exc:
            results[index] = exc
            continue
        base = _slug_base(clean_name)
        slug = (
            base
            if base not in slugs_in_use and base not in reserved
            else _unique_slug(clean_name, reserved)
        )
        step += 1
        taken.add(name_key)
        reserved.add(slug)
        tenant = _new_tenant(
            actor=actor,
            master=locked_master,
            name=clean_name,
            name_key=name_key,
            slug=slug,
            path=path,
            type=row.type,
            version=row.version,
            charset=clean_charset,
        )
        created.append((index, tenant))
    if not created:
        return
    tenants = [tenant for _index, tenant in created]
    if connections[Tenant.objects.db].features.can_return_rows_from_bulk_insert:
        Tenant.objects.bulk_create(tenants)
    else:
        for tenant in tenants:
            tenant.save(force_insert=True)
    standard_content_provision(
        tenants=[tenant for tenant in tenants if tenant.type == TenantType.STANDARD],
        user=actor.user,
    )
    Tenant.objects.filter(pk=locked_master.pk).update(child_count=F("child_count") + len(tenants))
    for index, tenant in created:
        _audit_create(actor, grant, tenant, logo=False)
        results[index] = tenant


def _apply_logo(tenant: Tenant, logo: ProcessedLogo) -> None:
    tenant.logo_png = logo.png
    tenant.logo_width = logo.width
    tenant.logo_height = logo.height
    tenant.logo_version = logo.version


def _require_edit(actor: Actor, tenant: Tenant) -> RoleGrant:
    grant = effective_grant(actor, tenant)
    if grant is None:
        raise NotFound
    if not role_allows(grant.role, Action.TENANT_EDIT):
        raise PermissionDenied(_("Your role does not allow changing this tenant."))
    return grant


def tenant_update(
    *,
    actor: Actor,
    tenant: Tenant,
    name: str | None = None,
    version: str | None = None,
    charset: str | None = None,
) -> Tenant:
    """Change name, version or charset of a tenant (type and master are fixed)."""
    grant = _require_edit(actor, tenant)
    changes: dict[str, list[object]] = {}
    errors: dict[str, list[ValidationError]] = {}
    new_name = tenant.name
    if name is not None:
        try:
            new_name = clean_tenant_name(name)
        except ValidationError as exc:
            errors["name"] = [exc]
    if version is not None:
        try:
            _check_choice(version, TenantVersion, "version", _("version"))
        except ValidationError as exc:
            errors.update(exc.error_dict)
    new_charset = tenant.charset
    if charset is not None:
        try:
            new_charset = _check_charset(tenant.type, charset)
        except ValidationError as exc:
            errors.update(exc.error_dict)
    if errors:
        raise ValidationError(errors)
    with transaction.atomic():
        locked = Tenant.objects.select_for_update().get(pk=tenant.pk)
        if new_name != locked.name:
            key = tenant_name_key(new_name)
            if Tenant.objects.filter(name_key=key).exclude(pk=locked.pk).exists():
                raise _name_taken_error()
            changes["name"] = [locked.name, new_name]
            locked.name, locked.name_key = new_name, key
        if version is not None and version != locked.version:
            changes["version"] = [locked.version, version]
            locked.version = version
        if new_charset != locked.charset:
            changes["charset"] = [locked.charset, new_charset]
            locked.charset = new_charset
        if changes:
            locked.save(update_fields=["name", "name_key", "version", "charset"])
            audit_record(
                actor=actor,
                action="tenant.update",
                tenant=locked,
                grant=grant,
                obj=locked,
                changes=changes,
            )
    return locked


def tenant_set_logo(*, actor: Actor, tenant: Tenant, logo: LogoUpload) -> Tenant:
    grant = _require_edit(actor, tenant)
    processed = _read_logo(logo)
    assert processed is not None
    with transaction.atomic():
        _apply_logo(tenant, processed)
        tenant.save(update_fields=["logo_png", "logo_width", "logo_height", "logo_version"])
        audit_record(
            actor=actor,
            action="tenant.logo_set",
            tenant=tenant,
            grant=grant,
            obj=tenant,
            changes={"width": processed.width, "height": processed.height},
        )
    return tenant


def tenant_remove_logo(*, actor: Actor, tenant: Tenant) -> Tenant:
    grant = _require_edit(actor, tenant)
    with transaction.atomic():
        tenant.logo_png, tenant.logo_width, tenant.logo_height = None, None, None
        tenant.logo_version = ""
        tenant.save(update_fields=["logo_png", "logo_width", "logo_height", "logo_version"])
        audit_record(
            actor=actor, action="tenant.logo_removed", tenant=tenant, grant=grant, obj=tenant
        )
    return tenant


def tenant_mark_configured(*, actor: Actor, tenant: Tenant) -> Tenant:
    """An operator confirms a CUSTOM tenant is configured; it leaves 'awaiting configuration'."""
    if not actor.is_operator:
        raise PermissionDenied(_("Only service staff can mark a tenant as configured."))
    with transaction.atomic():
        locked = Tenant.objects.select_for_update().get(pk=tenant.pk)
        if locked.configured_at is not None:
            return locked
        before = locked.status
        locked.configured_at = timezone.now()
        locked.configured_by = actor.user
        if locked.status == TenantStatus.AWAITING_CONFIGURATION:
            locked.status = TenantStatus.IN_SETUP
        locked.save(update_fields=["configured_at", "configured_by", "status"])
        audit_record(
            actor=actor,
            action="tenant.mark_configured",
            tenant=locked,
            grant=RoleGrant(role=Role.OPERATOR, source=None),
            obj=locked,
            changes={"status": [before, locked.status]},
        )
    return locked


def tenant_set_management_active(*, actor: Actor, tenant: Tenant, active: bool) -> Tenant:
    """Operators switch the tenant-management product on or off for a tenant: an activation
    added (or ended at once) by service staff, without online conditions. The billing
    services keep ``Tenant.tenant_management_active`` in step."""
    if not actor.is_operator:
        raise PermissionDenied(_("Only service staff can change products of a tenant."))
    from mandant.billing.features import TENANT_MANAGEMENT
    from mandant.billing.services import product_grant, product_remove

    if active:
        product_grant(actor=actor, tenant=tenant, product_key=TENANT_MANAGEMENT)
    else:
        product_remove(actor=actor, tenant=tenant, product_key=TENANT_MANAGEMENT)
    return tenant


def tenant_enter(*, actor: Actor, tenant: Tenant) -> RoleGrant:
    """Record that the actor entered a tenant (the seed's *Login* into a tenant)."""
    grant = effective_grant(actor, tenant)
    if grant is None:
        raise NotFound
    audit_record(actor=actor, action="tenant.enter", tenant=tenant, grant=grant, obj=tenant)
    return grant


ROOT_NAME = "Mandant Platform"


def root_tenant() -> Tenant:
    """The platform root; partners' tenants hang below it.

    A data migration creates it; it is re-created here if a database was flushed since
    (``flush`` in tests, or a restore of data without it).
    """
    root = Tenant.objects.filter(path=ROOT_PATH).first()
    if root is None:
        root, _created = Tenant.objects.get_or_create(
            path=ROOT_PATH,
            defaults={
                "name": ROOT_NAME,
                "name_key": tenant_name_key(ROOT_NAME),
                "slug": "platform",
                "type": TenantType.STANDARD,
                "version": TenantVersion.ENTERPRISE,
                "depth": 0,
                "charset": Charset.UTF_8,
                "status": TenantStatus.READY,
            },
        )
    return root


def tenant_hand_over(*, actor: Actor, tenant: Tenant) -> Tenant:
    """Hand the tenant over to the customer (status ``handed_over``).

    Possible only when every ``handover_conditions`` entry is met; otherwise ValidationError
    (code ``handover_unmet``) listing the unmet conditions. Handing over a tenant that is
    handed over already changes nothing.
    """
    grant = effective_grant(actor, tenant)
    if grant is None:
        raise NotFound
    if not grant_allows(grant.role, Action.TENANT_HAND_OVER, inherited=grant.inherited_for(tenant)):
        raise PermissionDenied(
            _(
                "Handing a tenant over needs the role Administrator, or Customer Service in a "
                "master tenant."
            )
        )
    with transaction.atomic():
        locked = Tenant.objects.select_for_update().defer("logo_png").get(pk=tenant.pk)
        if locked.status == TenantStatus.HANDED_OVER:
            return locked
        unmet = [c for c in handover_conditions(locked) if not c.ok]
        if unmet:
            raise ValidationError(
                [
                    ValidationError(
                        _("Not met yet: %(condition)s.") % {"condition": c.label},
                        code="handover_unmet",
                    )
                    for c in unmet
                ]
            )
        before = locked.status
        locked.status = TenantStatus.HANDED_OVER
        locked.save(update_fields=["status"])
        audit_record(
            actor=actor,
            action="tenant.hand_over",
            tenant=locked,
            grant=grant,
            obj=locked,
            changes={"status": [before, locked.status]},
        )
    return locked
