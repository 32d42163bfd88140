from accounts.logins import user_refresh_tokens_end


class RefreshTokensEndOnPasswordChange:
    """Listed with the password validators, though it rejects nothing: Django calls each
    validator's password_changed() once a new password is saved (User.save() after
    set_password()), so every door that sets a password ends the user's refresh tokens."""

    def validate(self, password, user=None) -> None:
        return None

    def password_changed(self, password, user=None) -> None:
        if user is not None and user.pk is not None:
            user_refresh_tokens_end(user=user)

    def get_help_text(self) -> str:
        return "A new password signs the user out of the API everywhere (refresh tokens end)."
