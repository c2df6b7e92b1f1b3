from django.urls import path

from autocrm.portal import views

urlpatterns = [
    path("c/e/<str:token>/", views.estimate, name="portal_estimate"),
    path("c/p/<str:token>/", views.progress, name="portal_progress"),
    path("c/s/<str:token>/", views.survey, name="portal_survey"),
]
