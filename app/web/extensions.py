"""Extension objects, unbound: the factory binds them to an app (cookiecutter-flask style)."""

from flask_login import LoginManager

login_manager = LoginManager()
