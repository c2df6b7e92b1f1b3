from django.urls import path

from autocrm.feedback import views

urlpatterns = [
    path("feedback/alerts/", views.alerts, name="feedback_alerts"),
    path("feedback/alerts/<int:pk>/handle/", views.handle, name="feedback_alert_handle"),
]
