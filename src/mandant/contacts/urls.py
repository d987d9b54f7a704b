from django.urls import path

from mandant.contacts import views

app_name = "contacts"

urlpatterns = [
    path("", views.contact_list, name="list"),
    path("new/", views.contact_new, name="new"),
    path("<id:contact_id>/", views.contact_detail, name="detail"),
    path("lists/", views.lists, name="lists"),
    path("lists/<id:list_id>/", views.list_detail, name="list_detail"),
    path("segments/", views.segments, name="segments"),
    path("segments/<id:segment_id>/", views.segments, name="segment_edit"),
    path("segments/<id:segment_id>/delete/", views.segment_delete, name="segment_delete"),
    path("forms/", views.signup_forms, name="signup_forms"),
    path("forms/new/", views.signup_form_new, name="signup_form_new"),
    path("forms/<id:form_id>/", views.signup_form_detail, name="signup_form"),
    path("export.csv", views.export, name="export"),
    path("import/", views.import_upload, name="import"),
    path("import/<id:upload_id>/", views.import_mapping, name="import_mapping"),
    path("jobs/<id:job_id>/", views.job_detail, name="job"),
    path("jobs/<id:job_id>/status/", views.job_status, name="job_status"),
    path("jobs/<id:job_id>/restart/", views.job_restart, name="job_restart"),
    path("jobs/<id:job_id>/errors.csv", views.job_errors, name="job_errors"),
]
