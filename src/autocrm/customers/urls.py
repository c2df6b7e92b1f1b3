from django.urls import path

from autocrm.customers import views

urlpatterns = [
    path("customers/", views.customer_list, name="customer_list"),
    path("customers/new/", views.customer_create, name="customer_create"),
    path("customers/export.xlsx", views.customer_list_export, name="customer_list_export"),
    path("customers/<int:pk>/export/", views.customer_export, name="customer_export"),
    path("customers/<int:pk>/erase/", views.customer_erase, name="customer_erase"),
    path("customers/<int:pk>/consent/", views.customer_consent, name="customer_consent"),
    path("customers/<int:pk>/merge/", views.customer_merge, name="customer_merge"),
    path("customers/<int:pk>/", views.customer_detail, name="customer_detail"),
    path("customers/<int:pk>/edit/", views.customer_edit, name="customer_edit"),
    path("customers/<int:pk>/reveal/", views.customer_reveal, name="customer_reveal"),
    path(
        "customers/<int:pk>/interactions/",
        views.customer_interaction,
        name="customer_interaction",
    ),
    path("vehicles/", views.vehicle_list, name="vehicle_list"),
    path("vehicles/export.xlsx", views.vehicle_list_export, name="vehicle_list_export"),
    path("vehicles/new/", views.vehicle_create, name="vehicle_create"),
    path("vehicles/<int:pk>/", views.vehicle_detail, name="vehicle_detail"),
    path("vehicles/<int:pk>/edit/", views.vehicle_edit, name="vehicle_edit"),
    path("vehicles/<int:pk>/mileage/", views.vehicle_mileage, name="vehicle_mileage"),
    path("vehicles/<int:pk>/transfer/", views.vehicle_transfer, name="vehicle_transfer"),
]
