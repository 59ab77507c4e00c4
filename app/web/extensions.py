"""Extension objects, unbound: the factory binds them to an app (cookiecutter-flask style)."""

from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_login import LoginManager

login_manager = LoginManager()
# Only the views that ask for a limit are limited (the sign-in form); storage from the app's
# RATELIMIT_STORAGE_URI, which the factory sets from web.rate_limit_storage.
limiter = Limiter(get_remote_address, key_prefix="twin-portal", strategy="moving-window")
