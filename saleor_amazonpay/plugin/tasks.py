"""Celery tasks: the Amazon calls that follow a shipment, off the request path.

Saleor's ``celeryconf`` autodiscovers ``<package>.tasks`` for every plugin in
``settings.PLUGINS``, where the package is the one of the plugin's *module*: for
``saleor_amazonpay.plugin.plugin.AmazonPayGatewayPlugin`` that is ``saleor_amazonpay.plugin``,
hence this module's place.

Arguments are plain ids (JSON). Each task re-reads the rows and the channel's current
configuration, so a task queued before the merchant turned a feature off does nothing.

Retries: throttling, 5xx and network errors (``AmazonPayError.should_retry``) are retried
with exponential backoff (``AMAZONPAY_TASK_RETRY_BACKOFF`` seconds, doubled per attempt,
capped by ``AMAZONPAY_TASK_RETRY_MAX_DELAY``, ``AMAZONPAY_TASK_MAX_RETRIES`` retries); the
last attempt leaves an order note instead. With ``CELERY_TASK_ALWAYS_EAGER`` (Saleor's
tests, or a Saleor without a broker) Celery runs a retry at once, ignoring the countdown.
"""

from __future__ import annotations

import logging
import random

from django.conf import settings
from saleor.celeryconf import app
from saleor.core.db.connection import allow_writer

from . import shipments

logger = logging.getLogger("saleor_amazonpay.tasks")

DEFAULT_MAX_RETRIES = 5
DEFAULT_RETRY_BACKOFF = 30.0
DEFAULT_RETRY_MAX_DELAY = 3600.0


def max_retries() -> int:
    return max(0, int(getattr(settings, "AMAZONPAY_TASK_MAX_RETRIES", DEFAULT_MAX_RETRIES)))


def retry_countdown(retries: int) -> float:
    """Seconds before retry number ``retries + 1``: base * 2**retries, capped, with equal jitter."""
    base = float(getattr(settings, "AMAZONPAY_TASK_RETRY_BACKOFF", DEFAULT_RETRY_BACKOFF))
    cap = float(getattr(settings, "AMAZONPAY_TASK_RETRY_MAX_DELAY", DEFAULT_RETRY_MAX_DELAY))
    ceiling = min(max(base, 0.0) * (2 ** max(retries, 0)), cap)
    return random.uniform(ceiling / 2, ceiling) if ceiling > 0 else 0.0


def _run(task, work, fulfillment_id: int):
    retries = task.request.retries or 0
    limit = max_retries()
    outcome = work(fulfillment_id, attempt=retries + 1, final_attempt=retries >= limit)
    if outcome.retry:
        raise task.retry(countdown=retry_countdown(retries), max_retries=limit)
    return outcome.reason


@app.task(bind=True, ignore_result=True)
@allow_writer()
def post_delivery_tracker_task(self, fulfillment_id: int) -> "str | None":
    """POST /deliveryTrackers for a fulfillment's tracking number (at most once)."""
    return _run(self, shipments.post_delivery_tracker, fulfillment_id)


@app.task(bind=True, ignore_result=True)
@allow_writer()
def capture_fulfillment_task(self, fulfillment_id: int) -> "str | None":
    """Capture the amount a shipped fulfillment covers (capture on shipment)."""
    return _run(self, shipments.capture_fulfillment, fulfillment_id)
