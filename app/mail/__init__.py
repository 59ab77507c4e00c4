"""Email: cost summaries and alert emails, each logged and delivered exactly once.

``requests`` decides what to send and writes one ``email_log`` row per message;
``delivery`` claims a row, renders it (``compose`` and ``render``, from ``app.summaries``) and
hands it to SMTP or to the outbox folder (``transport``). Celery tasks in ``workers.tasks`` call these.
"""
