from django.urls import include, path

from autocrm.reports import crosssell_views, drill_views, rfm_views, views

urlpatterns = [
    path("reports/", views.dashboard, name="reports_dashboard"),
    path("reports/drill/", drill_views.drill_page, name="reports_drill"),
    path("reports/drill/orders/", drill_views.drill_orders, name="reports_drill_orders"),
    path("reports/builder/", include("autocrm.reports.builder_urls")),
    path("reports/rfm/", rfm_views.rfm_page, name="reports_rfm"),
    path("reports/cross-sell/", crosssell_views.crosssell_page, name="reports_crosssell"),
    path(
        "reports/cross-sell/preference/save/",
        crosssell_views.save_preference,
        name="reports_crosssell_save",
    ),
    path(
        "reports/cross-sell/<slug:preset>/",
        crosssell_views.crosssell_page,
        name="reports_crosssell_preset",
    ),
]
