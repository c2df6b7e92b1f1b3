from django.urls import path

from autocrm.workflow import views, views_process

urlpatterns = [
    path("board/", views.board_page, name="board"),
    path("board/move/<int:pk>/", views.board_move, name="board_move"),
    path("board/stages/", views.stage_list, name="board_stages"),
    path("board/stages/<int:pk>/", views.stage_edit, name="board_stage_edit"),
    path("board/stages/<int:pk>/shift/", views.stage_shift, name="board_stage_shift"),
    path("process/", views_process.process_page, name="process_edit"),
    path("process/stages/new/", views_process.stage_add, name="process_stage_add"),
    path("process/stages/<int:pk>/", views_process.stage_save, name="process_stage_save"),
    path(
        "process/stages/<int:pk>/delete/",
        views_process.stage_delete,
        name="process_stage_delete",
    ),
    path("process/transitions/new/", views_process.transition_save, name="process_transition_add"),
    path(
        "process/transitions/<int:pk>/",
        views_process.transition_save,
        name="process_transition_save",
    ),
    path(
        "process/transitions/<int:pk>/delete/",
        views_process.transition_delete,
        name="process_transition_delete",
    ),
    path("approvals/", views_process.approval_list, name="approval_list"),
    path("approvals/<int:pk>/decide/", views_process.approval_decide, name="approval_decide"),
]
