"""The Django app of the ``django-db`` backend: models, migrations, repositories, admin."""
