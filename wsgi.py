"""WSGI entry point for any server (settings from FEEDSVC_* variables): ``gunicorn wsgi:app``,
``uwsgi --module wsgi:app``, ``granian --interface wsgi wsgi:app``, or, for servers that look
for ``application`` (``uwsgi --wsgi-file``, ``mod_wsgi-express start-server wsgi.py``), the same."""

from feedsvc.app import create_app

app = application = create_app()
