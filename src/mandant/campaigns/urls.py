from django.urls import path

from mandant.campaigns import views

app_name = "campaigns"

urlpatterns = [
    path("", views.campaign_list, name="list"),
    path("new/", views.campaign_new, name="new"),
    path("<id:campaign_id>/", views.campaign_edit, name="edit"),
    path("<id:campaign_id>/delete/", views.campaign_delete, name="delete"),
    path("<id:campaign_id>/checklist/", views.campaign_checklist_view, name="checklist"),
    path("<id:campaign_id>/test-send/", views.campaign_test_send, name="test_send"),
    path("<id:campaign_id>/preview/", views.campaign_preview, name="preview"),
    path("<id:campaign_id>/render/", views.campaign_render, name="render"),
    path("<id:campaign_id>/progress/", views.campaign_progress, name="progress"),
    path("<id:campaign_id>/schedule/", views.campaign_schedule, name="schedule"),
    *(
        path(f"<id:campaign_id>/{action}/", views.campaign_control, {"action": action}, name=action)
        for action in ("send", "pause", "resume", "cancel", "unschedule")
    ),
]
