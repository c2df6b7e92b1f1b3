from django.urls import include, path

from autocrm.service import views

urlpatterns = [
    path("work-orders/", views.workorder_list, name="workorder_list"),
    path("work-orders/new/", views.workorder_create, name="workorder_create"),
    path("work-orders/<int:pk>/", views.workorder_detail, name="workorder_detail"),
    path("work-orders/<int:pk>/edit/", views.workorder_update, name="workorder_update"),
    path("work-orders/<int:pk>/lines/", views.line_add, name="workorder_line_add"),
    path(
        "work-orders/<int:pk>/lines/<int:line_id>/",
        views.line_update,
        name="workorder_line_update",
    ),
    path(
        "work-orders/<int:pk>/lines/<int:line_id>/assign/",
        views.line_assign,
        name="workorder_line_assign",
    ),
    path("work-orders/<int:pk>/approvals/", views.approvals, name="workorder_approvals"),
    path("work-orders/<int:pk>/actions/<str:name>/", views.action, name="workorder_action"),
    path("work-orders/<int:pk>/payments/", views.payments, name="workorder_payments"),
    path(
        "work-orders/<int:pk>/payments/<int:payment_id>/refund/",
        views.refund,
        name="workorder_refund",
    ),
    path("work-orders/<int:pk>/qc/", views.qc, name="workorder_qc"),
    path(
        "work-orders/<int:pk>/recommendations/<int:reco_id>/",
        views.recommendation_add,
        name="workorder_recommendation_add",
    ),
    path(
        "recommendations/<int:reco_id>/dismiss/",
        views.recommendation_dismiss,
        name="recommendation_dismiss",
    ),
    path("vehicles/<int:pk>/history/", views.vehicle_history, name="vehicle_history"),
    path("appointments/", views.appointment_calendar, name="appointment_calendar"),
    path("appointments/new/", views.appointment_create, name="appointment_create"),
    path(
        "appointments/<int:pk>/<str:name>/",
        views.appointment_action,
        name="appointment_action",
    ),
    path("", include("autocrm.service.urls_floor")),
    path("", include("autocrm.service.urls_checklists")),
]
