from django.contrib import admin

from mandant.notices.models import OutboxMessage


@admin.register(OutboxMessage)
class OutboxMessageAdmin(admin.ModelAdmin):
    list_display = ["created_at", "to", "subject"]
    search_fields = ["to", "subject"]
    exclude = ["raw"]
    readonly_fields = ["from_email", "to", "subject", "body", "created_at"]
