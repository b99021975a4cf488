"""The Celery application that Celery workers load (``SEND_WORKER = "celery"``; its tasks are
``composer.workers.celery_tasks``):

    celery --app composer.celery_worker worker --loglevel INFO

Settings come from the same ``COMPOSER_*`` environment variables as the web app
(``COMPOSER_SQLALCHEMY_DATABASE_URI``, ``COMPOSER_CELERY_BROKER_URL``, the mail gateway's).
"""

from composer import create_app
from composer.workers.celery_tasks import celery_init_app

flask_app = create_app()
celery_app = celery_init_app(flask_app)
