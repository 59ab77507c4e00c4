"""Flask-side wiring: extensions, the login gate, health, error pages. Used only by the factory."""
