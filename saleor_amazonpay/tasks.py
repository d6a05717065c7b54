"""Celery task of the Amazon Pay plugin's Django app: periodic reconciliation.

Celery's Django integration autodiscovers ``<app>.tasks`` for every app in INSTALLED_APPS;
Saleor adds this package to INSTALLED_APPS through its ``saleor.plugins`` entry point name
(``saleor_amazonpay``), so workers know ``saleor_amazonpay.tasks.reconcile_payments_task``.
(The shipment tasks live in ``saleor_amazonpay.plugin.tasks``, found through PLUGINS.)

Schedule it with Celery beat, e.g. in Saleor's settings::

    CELERY_BEAT_SCHEDULE["amazonpay-reconcile"] = {
        "task": "saleor_amazonpay.tasks.reconcile_payments_task",
        "schedule": datetime.timedelta(minutes=15),
    }

or create the database entry with ``python manage.py amazonpay_reconcile --install-schedule``
(see docs/notifications.md).
"""

from __future__ import annotations

import logging

from saleor.celeryconf import app
from saleor.core.db.connection import allow_writer

logger = logging.getLogger("saleor_amazonpay.tasks")

TASK_NAME = "saleor_amazonpay.tasks.reconcile_payments_task"


@app.task(name=TASK_NAME, ignore_result=True)
@allow_writer()
def reconcile_payments_task(since_hours: "float | None" = None, min_age_minutes: "float | None" = None,
                            channel_slug: "str | None" = None) -> dict:
    """Re-read Amazon's state of pending / uncertain payments and apply it (see plugin.reconcile)."""
    from .plugin import reconcile

    kwargs = {}
    if since_hours is not None:
        kwargs["since_hours"] = float(since_hours)
    if min_age_minutes is not None:
        kwargs["min_age_minutes"] = float(min_age_minutes)
    reports = reconcile.run(channel_slug=channel_slug or None, **kwargs)
    summary = {
        "checked": len(reports),
        "changed": sum(1 for r in reports if r.changes),
        "failed": sum(1 for r in reports if r.error),
    }
    logger.info("Amazon Pay reconciliation: %(checked)d payments checked, %(changed)d changed, "
                "%(failed)d failed", summary)
    return summary
