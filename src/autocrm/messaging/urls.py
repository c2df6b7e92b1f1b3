from django.urls import path

from autocrm.messaging import views

urlpatterns = [
    path("messages/", views.message_list, name="message_list"),
    path("messages/<int:pk>/", views.message_detail, name="message_detail"),
    path(
        "messages/<int:pk>/sent-by-hand/",
        views.message_send_by_hand,
        name="message_send_by_hand",
    ),
    path("messages/<int:pk>/resend/", views.message_resend, name="message_resend"),
    path("messages/<int:pk>/cancel/", views.message_cancel, name="message_cancel"),
    path("messages/templates/", views.template_list, name="message_template_list"),
    path("messages/templates/new/", views.template_edit, name="message_template_create"),
    path("messages/templates/<int:pk>/", views.template_edit, name="message_template_edit"),
    path("messages/templates/preview/", views.template_preview, name="message_template_preview"),
    # The owner's side: unsubscribe link (no login) and the SMS vendors' reply callbacks.
    path("u/<str:token>/", views.unsubscribe, name="message_unsubscribe"),
    path("hooks/sms/aliyun/<str:token>/", views.inbound_aliyun, name="message_inbound_aliyun"),
    path("hooks/sms/tencent/<str:token>/", views.inbound_tencent, name="message_inbound_tencent"),
]
