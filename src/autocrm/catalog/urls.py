from django.urls import path

from autocrm.catalog import views

urlpatterns = [
    path("catalog/", views.catalog_index, name="catalog_index"),
    path(
        "catalog/labour/new/",
        views.catalog_item_create,
        {"kind": "labour"},
        name="catalog_labour_create",
    ),
    path(
        "catalog/labour/<int:pk>/edit/",
        views.catalog_item_edit,
        {"kind": "labour"},
        name="catalog_labour_edit",
    ),
    path(
        "catalog/labour/<int:pk>/retire/",
        views.catalog_item_retire,
        {"kind": "labour"},
        name="catalog_labour_retire",
    ),
    path(
        "catalog/parts/new/",
        views.catalog_item_create,
        {"kind": "part"},
        name="catalog_part_create",
    ),
    path(
        "catalog/parts/<int:pk>/edit/",
        views.catalog_item_edit,
        {"kind": "part"},
        name="catalog_part_edit",
    ),
    path(
        "catalog/parts/<int:pk>/retire/",
        views.catalog_item_retire,
        {"kind": "part"},
        name="catalog_part_retire",
    ),
    path("catalog/packages/new/", views.catalog_package_create, name="catalog_package_create"),
    path("catalog/packages/<int:pk>/", views.catalog_package, name="catalog_package"),
    path(
        "catalog/packages/<int:pk>/edit/", views.catalog_package_edit, name="catalog_package_edit"
    ),
    path(
        "catalog/packages/<int:pk>/retire/",
        views.catalog_package_retire,
        name="catalog_package_retire",
    ),
    path(
        "catalog/packages/<int:pk>/items/",
        views.catalog_package_item_add,
        name="catalog_package_item_add",
    ),
    path(
        "catalog/packages/<int:pk>/items/<int:item_pk>/remove/",
        views.catalog_package_item_remove,
        name="catalog_package_item_remove",
    ),
    path(
        "catalog/packages/<int:pk>/items/<int:item_pk>/move/",
        views.catalog_package_item_move,
        name="catalog_package_item_move",
    ),
    path(
        "catalog/packages/<int:pk>/items/<int:item_pk>/quantity/",
        views.catalog_package_item_quantity,
        name="catalog_package_item_quantity",
    ),
    path("catalog/prices/", views.catalog_price_stores, name="catalog_price_stores"),
    path("catalog/prices/<int:store_id>/", views.catalog_prices, name="catalog_prices"),
    path(
        "catalog/prices/<int:store_id>/<str:kind>/<int:item_id>/",
        views.catalog_price_edit,
        name="catalog_price_edit",
    ),
    path(
        "catalog/prices/remove/<int:pk>/", views.catalog_price_remove, name="catalog_price_remove"
    ),
]
