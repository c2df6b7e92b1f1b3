from django.urls import path

from autocrm.automation import views_rules

urlpatterns = [
    path("rules/", views_rules.rule_list, name="rule_list"),
    path("rules/new/", views_rules.rule_new, name="rule_new"),
    path("rules/<int:pk>/", views_rules.rule_detail, name="rule_detail"),
    path("rules/<int:pk>/switch/", views_rules.rule_switch, name="rule_switch"),
    path("rules/<int:pk>/preview/", views_rules.rule_preview, name="rule_preview"),
]
