from django.urls import path

from autocrm.service import views_floor as views

urlpatterns = [
    path("floor/", views.jobs, name="floor_jobs"),
    path("floor/lines/<int:pk>/<str:action>/", views.line_action, name="floor_line_action"),
    path("floor/wo/<int:pk>/inspection/", views.inspection, name="floor_inspection"),
    path("floor/wo/<int:pk>/photos/", views.photos, name="floor_photos"),
    path("floor/results/<int:pk>/", views.result, name="floor_result"),
    path(
        "floor/inspections/<int:pk>/complete/",
        views.inspection_complete,
        name="floor_inspection_complete",
    ),
    path(
        "floor/inspections/<int:pk>/propose/",
        views.inspection_propose,
        name="floor_inspection_propose",
    ),
    path("floor/media/<str:token>/remove/", views.media_remove, name="floor_media_remove"),
    path("floor/hours/", views.hours, name="floor_hours"),
    # Never MEDIA_ROOT as such: one file at a time, for staff who may see the work order.
    path("media/wo/<str:token>/", views.media_file, name="media_file"),
    path("media/wo/<str:token>/thumb/", views.media_thumb, name="media_thumb"),
]
