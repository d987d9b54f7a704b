from typing import ClassVar

from django.conf import settings
from django.contrib.auth.base_user import AbstractBaseUser, BaseUserManager
from django.contrib.auth.models import PermissionsMixin
from django.db import models
from django.db.models.functions import Lower
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from mandant.accounts.roles import MEMBERSHIP_ROLE_CHOICES, Role


def normalize_email_address(email: str) -> str:
    """Trim and lower-case the whole address: it is the username, compared case-insensitively."""
    return email.strip().lower()


class UserManager(BaseUserManager["User"]):
    use_in_migrations = True

    def create_user(self, email: str, password: str | None = None, **fields: object) -> "User":
        user = self.model(email=normalize_email_address(email), **fields)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_superuser(self, email: str, password: str | None = None, **fields: object) -> "User":
        fields.setdefault("is_staff", True)
        fields.setdefault("is_superuser", True)
        return self.create_user(email, password, **fields)

    def get_by_natural_key(self, username: str | None) -> "User":
        return self.get(email__iexact=normalize_email_address(username or ""))


class User(AbstractBaseUser, PermissionsMixin):
    """A person. The e-mail address is the username. ``is_staff`` marks operators."""

    email = models.EmailField(_("e-mail address"), max_length=254, unique=True)
    first_name = models.CharField(_("first name"), max_length=150, blank=True)
    last_name = models.CharField(_("last name"), max_length=150, blank=True)
    language = models.CharField(
        _("language"), max_length=8, choices=settings.LANGUAGES, default="en"
    )
    is_staff = models.BooleanField(_("operator"), default=False)
    is_active = models.BooleanField(_("active"), default=True)
    date_joined = models.DateTimeField(_("date joined"), default=timezone.now)
    # "Valid and active": proven when the owner follows an invitation or verification link.
    email_verified_at = models.DateTimeField(_("e-mail verified at"), null=True, blank=True)
    # Set when a message to the address bounced or was refused by the SMTP server.
    email_undeliverable_at = models.DateTimeField(
        _("e-mail undeliverable since"), null=True, blank=True
    )
    email_undeliverable_reason = models.TextField(blank=True)
    # An initial password set by a partner must be changed at first login.
    must_change_password = models.BooleanField(_("must change password"), default=False)
    # The partner tenant that set a still-unused initial password (reuse check across tenants).
    initial_password_by = models.ForeignKey(
        "tenants.Tenant", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    objects: ClassVar[UserManager] = UserManager()

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS: ClassVar[list[str]] = []

    class Meta:
        verbose_name = _("user")
        verbose_name_plural = _("users")
        constraints = [models.UniqueConstraint(Lower("email"), name="user_email_ci_unique")]

    def __str__(self) -> str:
        return self.email

    def get_full_name(self) -> str:
        return f"{self.first_name} {self.last_name}".strip() or self.email

    def get_short_name(self) -> str:
        return self.first_name or self.email


class Membership(models.Model):
    """A user's role in a tenant. It applies to the tenant's whole subtree."""

    tenant = models.ForeignKey(
        "tenants.Tenant", on_delete=models.CASCADE, related_name="memberships"
    )
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="memberships")
    role = models.PositiveSmallIntegerField(_("role"), choices=MEMBERSHIP_ROLE_CHOICES)
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        User, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    # A deactivated membership grants nothing; the row stays for the audit trail.
    deactivated_at = models.DateTimeField(_("deactivated at"), null=True, blank=True)

    class Meta:
        verbose_name = _("membership")
        verbose_name_plural = _("memberships")
        constraints = [
            models.UniqueConstraint(fields=["tenant", "user"], name="membership_tenant_user_unique")
        ]
        indexes = [models.Index(fields=["user", "tenant"], name="membership_user_tenant")]

    def __str__(self) -> str:
        return f"{self.user} · {Role(self.role).label} · {self.tenant}"


class LoginFailure(models.Model):
    """Failed logins in a row for one account from one client address."""

    email_key = models.CharField(max_length=254)
    client = models.CharField(max_length=64)
    failures = models.PositiveIntegerField(default=0)
    last_failure_at = models.DateTimeField()
    blocked_until = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["email_key", "client"], name="loginfailure_unique")
        ]

    def __str__(self) -> str:
        return f"{self.email_key} from {self.client}: {self.failures}"


class ApiKey(models.Model):
    """An API key acting with its creator's role over its tenant's subtree. Stored hashed."""

    tenant = models.ForeignKey("tenants.Tenant", on_delete=models.CASCADE, related_name="api_keys")
    created_by = models.ForeignKey(User, on_delete=models.CASCADE, related_name="api_keys")
    name = models.CharField(_("name"), max_length=100)
    prefix = models.CharField(max_length=16)
    key_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("API key")
        verbose_name_plural = _("API keys")
        indexes = [models.Index(fields=["tenant", "created_at"], name="apikey_tenant_created")]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"


class Invitation(models.Model):
    """A one-time link to set the password and prove the address (valid 72 hours).

    The token is random and stored as a hash; it is unrelated to Django's password-reset
    tokens, so neither can serve as the other.
    """

    tenant = models.ForeignKey("tenants.Tenant", on_delete=models.CASCADE, related_name="+")
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="invitations")
    role = models.PositiveSmallIntegerField(choices=MEMBERSHIP_ROLE_CHOICES)
    created_by = models.ForeignKey(
        User, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    token_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("invitation")
        verbose_name_plural = _("invitations")
        indexes = [models.Index(fields=["tenant", "user"], name="invitation_tenant_user")]

    def __str__(self) -> str:
        return f"{self.user} → {self.tenant}"


class SecuritySettings(models.Model):
    """Platform-wide security settings kept by operators (one row)."""

    require_second_factor_for_managers = models.BooleanField(
        _("require a second factor for Administrators and Customer Service"), default=False
    )

    class Meta:
        verbose_name = _("security settings")
        verbose_name_plural = _("security settings")

    def __str__(self) -> str:
        return str(_("security settings"))

    @classmethod
    def current(cls) -> "SecuritySettings":
        settings_row, _created = cls.objects.get_or_create(pk=1)
        return settings_row
