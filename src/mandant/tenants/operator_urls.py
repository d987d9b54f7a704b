from django.urls import path

from mandant.tenants import operator_views as views

app_name = "operator"

urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("tenants/<id:tenant_id>/configured/", views.mark_configured, name="mark_configured"),
    path("tenants/<id:tenant_id>/management/", views.set_management, name="set_management"),
    path("outbox/", views.outbox, name="outbox"),
    path("outbox/<id:message_id>/", views.outbox_detail, name="outbox_detail"),
    path("outbox/kept/<id:message_id>/", views.outbox_kept, name="outbox_kept"),
    path("notices/", views.notices, name="notices"),
    path("notices/new/", views.notice_new, name="notice_new"),
]
