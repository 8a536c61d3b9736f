"""WSGI entry point: ``gunicorn wsgi:app`` (settings from FEEDSVC_* variables)."""

from feedsvc.app import create_app

app = create_app()
