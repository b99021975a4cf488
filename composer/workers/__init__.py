"""Workers: what sends running runs and renders waiting letter batches in the background.

"Worker" means one of these, all sending through one ``dispatcher.Dispatcher``:

- the in-process worker (``inprocess``, ``SEND_WORKER = "inprocess"``, the default): daemon
  threads in the web app's process; ``flask --app composer send work`` runs the same loop in a
  process of its own;
- Celery workers (``celery_tasks``, ``SEND_WORKER = "celery"``): separate processes fed by a
  Redis broker, started with ``celery --app composer.celery_worker worker``.

``runtime`` gives each of them what it needs from the app's settings. The PDF renderer's child
process (``composer.rendering.child_process``) is not a worker: it renders one document for
whoever asks, a web request or a worker.
"""
