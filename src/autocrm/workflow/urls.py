from django.urls import path

from autocrm.workflow import views

urlpatterns = [
    path("board/", views.board_page, name="board"),
    path("board/move/<int:pk>/", views.board_move, name="board_move"),
    path("board/stages/", views.stage_list, name="board_stages"),
    path("board/stages/<int:pk>/", views.stage_edit, name="board_stage_edit"),
    path("board/stages/<int:pk>/shift/", views.stage_shift, name="board_stage_shift"),
]
