"""The task consumer's entry point: ``huey_consumer portfolio.worker.huey``.

Building the app registers every task (they are defined in the areas' modules)
and points the queue at the backend the settings name.
"""

from __future__ import annotations

from . import create_app, tasks

app = create_app()
huey = tasks.huey
