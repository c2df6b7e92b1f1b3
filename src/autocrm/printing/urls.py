from django.urls import path

from autocrm.printing import views

urlpatterns = [
    path(
        "work-orders/<int:pk>/print/authorisation.pdf",
        views.authorisation,
        name="print_authorisation",
    ),
    path(
        "work-orders/<int:pk>/print/settlement.pdf",
        views.settlement,
        name="print_settlement",
    ),
    path(
        "work-orders/<int:pk>/print/certificate.pdf",
        views.certificate,
        name="print_certificate",
    ),
]
