from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

# Materialised path: each level is a fixed-width decimal step, so a subtree is one index
# range scan (path >= p AND path < next(p)) on every database and collation.
PATH_STEP_WIDTH = 6
PATH_MAX_LENGTH = 255  # so at most 42 levels


class TenantType(models.TextChoices):
    STANDARD = "STANDARD", _("STANDARD")
    CUSTOM = "CUSTOM", _("CUSTOM")


class TenantVersion(models.TextChoices):
    BASIC = "BASIC", _("BASIC")
    PROFESSIONAL = "PROFESSIONAL", _("PROFESSIONAL")
    ENTERPRISE = "ENTERPRISE", _("ENTERPRISE")


class Charset(models.TextChoices):
    UTF_8 = "UTF-8", "UTF-8"
    ISO_8859_1 = "ISO-8859-1", "ISO-8859-1"
    ISO_8859_15 = "ISO-8859-15", "ISO-8859-15"
    WINDOWS_1252 = "Windows-1252", "Windows-1252"


class TenantStatus(models.TextChoices):
    IN_SETUP = "in_setup", _("in set-up")
    AWAITING_CONFIGURATION = "awaiting_configuration", _("awaiting configuration")
    READY = "ready", _("ready to send")
    HANDED_OVER = "handed_over", _("handed over")
    SUSPENDED = "suspended", _("suspended")


class Tenant(models.Model):
    """A customer tenant (*Mandant*): a node in the tenant tree."""

    name = models.CharField(_("name"), max_length=100)
    # NFKC + casefold of the name: platform-wide uniqueness ignoring case and look-alikes.
    name_key = models.CharField(max_length=400, unique=True)
    slug = models.SlugField(max_length=120, unique=True)
    type = models.CharField(_("type"), max_length=16, choices=TenantType.choices)
    version = models.CharField(_("version"), max_length=16, choices=TenantVersion.choices)
    parent = models.ForeignKey(
        "self",
        verbose_name=_("master tenant"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="children",
    )
    path = models.CharField(max_length=PATH_MAX_LENGTH, unique=True)
    depth = models.PositiveSmallIntegerField()
    child_count = models.PositiveIntegerField(default=0)
    charset = models.CharField(_("charset"), max_length=16, choices=Charset.choices)
    status = models.CharField(_("status"), max_length=32, choices=TenantStatus.choices)
    logo_png = models.BinaryField(null=True, blank=True, editable=False)
    logo_width = models.PositiveSmallIntegerField(null=True, blank=True, editable=False)
    logo_height = models.PositiveSmallIntegerField(null=True, blank=True, editable=False)
    logo_version = models.CharField(max_length=16, blank=True, editable=False)
    tenant_management_active = models.BooleanField(
        _("tenant management active"),
        default=False,
        help_text=_("Lets users of this tenant create sub-tenants (set by operators)."),
    )
    configured_at = models.DateTimeField(_("configured at"), null=True, blank=True)
    configured_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("tenant")
        verbose_name_plural = _("tenants")
        indexes = [models.Index(fields=["parent", "path"], name="tenant_parent_path")]

    def __str__(self) -> str:
        return self.name

    # Django's get_FOO_display translates every label of the field on each call; these
    # translate one (a fifth of the list rendering of the Mandantenverwaltung page).
    def get_type_display(self) -> str:  # type: ignore[no-redef]
        return choice_label(TenantType, self.type)

    def get_version_display(self) -> str:  # type: ignore[no-redef]
        return choice_label(TenantVersion, self.version)

    def get_status_display(self) -> str:  # type: ignore[no-redef]
        return choice_label(TenantStatus, self.status)

    @property
    def is_root(self) -> bool:
        return self.parent_id is None

    @property
    def has_logo(self) -> bool:
        return bool(self.logo_version)

    def ancestor_paths(self) -> list[str]:
        """Paths of this tenant and all its ancestors, root first."""
        return [
            self.path[:end] for end in range(PATH_STEP_WIDTH, len(self.path) + 1, PATH_STEP_WIDTH)
        ]

    def subtree_bounds(self) -> tuple[str, str]:
        return self.path, subtree_upper_bound(self.path)


def choice_label(choices: type[models.TextChoices], value: str) -> str:
    """The translated label of ``value``, or ``value`` itself if it is not a choice."""
    try:
        return str(choices(value).label)
    except ValueError:
        return value


def subtree_upper_bound(path: str) -> str:
    """The smallest path that is not in the subtree of ``path``: its numeric successor."""
    return str(int(path) + 1).zfill(len(path))
