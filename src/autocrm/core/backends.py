"""Authentication backend that loads a signed-in user's organisation in the same query:
every page shows the org name, so this saves a query per request."""

from django.contrib.auth.backends import ModelBackend


class StaffBackend(ModelBackend):
    def get_user(self, user_id):
        from autocrm.core.models import User

        user = User._default_manager.select_related("org").filter(pk=user_id).first()
        return user if user is not None and self.user_can_authenticate(user) else None
