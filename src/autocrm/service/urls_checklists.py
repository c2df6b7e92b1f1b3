from django.urls import path

from autocrm.service import views_checklists as views

urlpatterns = [
    path("settings/checklists/", views.checklist_list, name="checklist_list"),
    path("settings/checklists/<int:pk>/", views.checklist_detail, name="checklist_detail"),
    path("settings/checklists/<int:pk>/active/", views.checklist_active, name="checklist_active"),
    path("settings/checklists/<int:pk>/retire/", views.checklist_retire, name="checklist_retire"),
    path("settings/checklists/<int:pk>/items/", views.item_add, name="checklist_item_add"),
    path(
        "settings/checklists/<int:pk>/items/<int:item_pk>/",
        views.item_update,
        name="checklist_item_update",
    ),
    path(
        "settings/checklists/<int:pk>/items/<int:item_pk>/edit/",
        views.item_edit,
        name="checklist_item_edit",
    ),
    path(
        "settings/checklists/<int:pk>/items/<int:item_pk>/remove/",
        views.item_remove,
        name="checklist_item_remove",
    ),
    path(
        "settings/checklists/<int:pk>/items/<int:item_pk>/move/",
        views.item_move,
        name="checklist_item_move",
    ),
    path(
        "settings/checklists/<int:pk>/sections/move/",
        views.section_move,
        name="checklist_section_move",
    ),
]
