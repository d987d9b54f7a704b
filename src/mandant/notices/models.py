from django.db import models
from django.utils.translation import gettext_lazy as _


class OutboxMessage(models.Model):
    """A message kept by the ``outbox://`` transport instead of being sent."""

    from_email = models.CharField(max_length=254)
    to = models.TextField(help_text="Comma-separated recipients")
    subject = models.CharField(max_length=998)
    body = models.TextField()
    raw = models.BinaryField()
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        verbose_name = _("outbox message")
        verbose_name_plural = _("outbox")

    def __str__(self) -> str:
        return self.subject
