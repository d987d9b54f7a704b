# Contacts are tenant-scoped (django-scopes): operators see them through the tenant's pages,
# not the Django admin, whose unscoped querysets would raise.
