from django.contrib.auth import views as auth_views
from django.urls import include, path

from autocrm.api import api
from autocrm.core import views, views_fields

urlpatterns = [
    path("", views.home, name="home"),
    path("login/", views.LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("account/", views.account, name="account"),
    path("account/password/", views.PasswordChangeView.as_view(), name="password_change"),
    path("account/tokens/<int:pk>/revoke/", views.token_revoke, name="token_revoke"),
    path("language/", views.set_language, name="set_language"),
    path("stores/", views.store_list, name="store_list"),
    path("stores/new/", views.store_create, name="store_create"),
    path("stores/<int:pk>/", views.store_detail, name="store_detail"),
    path("stores/<int:pk>/edit/", views.store_edit, name="store_edit"),
    path("regions/", views.region_list, name="region_list"),
    path("staff/", views.staff_list, name="staff_list"),
    path("staff/new/", views.staff_create, name="staff_create"),
    path("staff/<int:pk>/", views.staff_edit, name="staff_edit"),
    path("staff/<int:pk>/active/", views.staff_set_active, name="staff_set_active"),
    path("audit/", views.audit_list, name="audit_list"),
    path("jobs/", views.job_list, name="job_list"),
    path("search/", views.search, name="search"),
    path("settings/fields/", views_fields.field_list, name="field_list"),
    path("settings/fields/new/", views_fields.field_edit, name="field_create"),
    path("settings/fields/<int:pk>/", views_fields.field_edit, name="field_edit"),
    path("settings/fields/<int:pk>/delete/", views_fields.field_delete, name="field_delete"),
    path("", include("autocrm.customers.urls")),
    path("", include("autocrm.imports.urls")),
    path("", include("autocrm.catalog.urls")),
    path("", include("autocrm.service.urls")),
    path("", include("autocrm.workflow.urls")),
    path("", include("autocrm.feedback.urls")),
    path("", include("autocrm.messaging.urls")),
    path("", include("autocrm.automation.urls")),
    path("", include("autocrm.portal.urls")),
    path("", include("autocrm.printing.urls")),
    path("", include("autocrm.reports.urls")),
    path("healthz", views.healthz, name="healthz"),
    path("api/v1/", api.urls),
]

handler400 = "autocrm.core.views.error_400"
handler403 = "autocrm.core.views.error_403"
handler404 = "autocrm.core.views.error_404"
handler500 = "autocrm.core.views.error_500"
