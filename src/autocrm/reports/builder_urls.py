from django.urls import path

from autocrm.reports import builder_views as views

urlpatterns = [
    path("", views.report_list, name="reports_builder"),
    path("new/", views.report_new, name="reports_builder_new"),
    path("<int:pk>/", views.report_result, name="reports_builder_result"),
    path("<int:pk>/edit/", views.report_edit, name="reports_builder_edit"),
    path("<int:pk>/pin/", views.report_pin, name="reports_builder_pin"),
    path("<int:pk>/delete/", views.report_delete, name="reports_builder_delete"),
]
