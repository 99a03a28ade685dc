"""The app's ``manage.py`` commands, one module each."""
