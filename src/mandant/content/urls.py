from django.urls import path

from mandant.content import copy_views, views

app_name = "content"

# Pages of the content library under /t/<slug>/content/.
urlpatterns = [
    path("", views.library, name="library"),
    path("new/<slug:kind>/", views.item_new, name="item_new"),
    path("bin/", views.bin_view, name="bin"),
    path("folders/new/", views.folder_new, name="folder_new"),
    path("folders/<id:folder_id>/", views.folder_edit, name="folder"),
    path("assets/<uuid:key>/", views.asset_file, name="asset_file"),
    path("<id:item_id>/", views.item_detail, name="item"),
    path("<id:item_id>/preview/", views.item_preview, name="preview"),
    path("<id:item_id>/render/", views.item_render, name="render"),
    path("<id:item_id>/image/", views.item_image, name="image"),
    path("<id:item_id>/duplicate/", views.item_duplicate, name="duplicate"),
    path("<id:item_id>/delete/", views.item_delete, name="delete"),
    path("<id:item_id>/restore/", views.item_restore, name="restore"),
    path("<id:item_id>/pull/", views.item_pull, name="pull"),
    path("<id:item_id>/history/", views.item_history, name="history"),
    path("<id:item_id>/history/<id:number>/", views.item_version, name="version"),
    path(
        "<id:item_id>/history/<id:number>/restore/",
        views.item_version_restore,
        name="version_restore",
    ),
    # Copy Content and its jobs.
    path("copy/", copy_views.copy_content, name="copy"),
    path("jobs/", copy_views.job_list_view, name="jobs"),
    path("jobs/<id:job_id>/", copy_views.job_detail, name="job"),
    path("jobs/<id:job_id>/status/", copy_views.job_status, name="job_status"),
    path("jobs/<id:job_id>/restart/", copy_views.job_restart, name="job_restart"),
]
