from allauth.account.adapter import DefaultAccountAdapter


class AccountAdapter(DefaultAccountAdapter):
    def is_open_for_signup(self, request):
        # Sign-up opens only through invitations; until then accounts are made by `manage.py adduser`.
        return False
