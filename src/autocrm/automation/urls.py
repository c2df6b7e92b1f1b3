from django.urls import include, path

from autocrm.automation import views

urlpatterns = [
    path("tasks/", views.inbox, name="task_inbox"),
    path("tasks/new/", views.task_create, name="task_create"),
    path("tasks/<int:pk>/", views.task_detail, name="task_detail"),
    path("tasks/<int:pk>/complete/", views.task_complete, name="task_complete"),
    path("tasks/<int:pk>/cancel/", views.task_cancel, name="task_cancel"),
    path("tasks/<int:pk>/reassign/", views.task_reassign, name="task_reassign"),
    path("", include("autocrm.automation.urls_rules")),
]
