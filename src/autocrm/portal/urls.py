from django.urls import path

from autocrm.portal import views

urlpatterns = [
    # The owner's links (signed tokens, no login).
    path("c/e/<str:token>/", views.estimate, name="portal_estimate"),
    path(
        "c/e/<str:token>/photo/<str:media_token>/",
        views.estimate_photo,
        name="portal_estimate_photo",
    ),
    path("c/p/<str:token>/", views.progress, name="portal_progress"),
    path("c/p/<str:token>/live/", views.progress_live, name="portal_progress_live"),
    path(
        "c/p/<str:token>/photo/<str:media_token>/",
        views.progress_photo,
        name="portal_progress_photo",
    ),
    path("c/s/<str:token>/", views.survey, name="portal_survey"),
    # Public booking: a chain's page lists its stores; each store has its own page.
    path("book/<slug:org_code>/", views.book_stores, name="portal_book_stores"),
    path("book/<slug:org_code>/<slug:store_code>/", views.book, name="portal_book"),
    path(
        "book/<slug:org_code>/<slug:store_code>/slots/", views.book_slots, name="portal_book_slots"
    ),
    path(
        "book/<slug:org_code>/<slug:store_code>/done/<str:ref>/",
        views.book_done,
        name="portal_book_done",
    ),
    # Staff: send the owner a link from the work order page.
    path("work-orders/<int:pk>/links/", views.workorder_links, name="workorder_links"),
    path(
        "work-orders/<int:pk>/send-link/<str:purpose>/",
        views.send_link,
        name="workorder_send_link",
    ),
]
