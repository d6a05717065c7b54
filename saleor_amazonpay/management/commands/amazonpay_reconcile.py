"""``python manage.py amazonpay_reconcile [--dry-run] [--channel SLUG] [--since HOURS] [--min-age MINUTES]``

Re-reads Amazon Pay's state for payments whose outcome Saleor does not know (pending
authorizations and captures, checkouts whose Complete ended without an answer, refunds in
flight) and applies it, as a notification would. ``--dry-run`` prints what would change
and changes nothing, in Saleor or at Amazon.

``--install-schedule [--every MINUTES]`` instead creates (or updates) the Celery beat entry
that runs it periodically in Saleor's database scheduler; ``--uninstall-schedule`` removes it.
See docs/notifications.md.
"""

from __future__ import annotations

import json

from django.core.management.base import BaseCommand, CommandError

SCHEDULE_NAME = "saleor_amazonpay.reconcile"


class Command(BaseCommand):
    help = ("Re-read Amazon Pay's state of pending or uncertain payments and apply it to Saleor "
            "(lost notifications, checkouts completed without an answer, refunds in flight).")

    def add_arguments(self, parser):
        from saleor_amazonpay.plugin.reconcile import (
            DEFAULT_MIN_AGE_MINUTES,
            DEFAULT_SINCE_HOURS,
        )

        parser.add_argument("--dry-run", action="store_true",
                            help="Read Amazon and print what would change; change nothing.")
        parser.add_argument("--channel", metavar="SLUG", help="Only payments of this channel.")
        parser.add_argument("--since", metavar="HOURS", type=float, default=DEFAULT_SINCE_HOURS,
                            help=f"Only payments created in the last HOURS hours (default {DEFAULT_SINCE_HOURS:g}).")
        parser.add_argument("--min-age", metavar="MINUTES", type=float, default=DEFAULT_MIN_AGE_MINUTES,
                            help="Leave checkouts alone whose last payment activity is more recent than MINUTES "
                                 f"minutes: the buyer may still be completing them (default {DEFAULT_MIN_AGE_MINUTES:g}).")
        parser.add_argument("--install-schedule", action="store_true",
                            help="Create or update the Celery beat entry that runs the reconciliation periodically.")
        parser.add_argument("--uninstall-schedule", action="store_true", help="Remove that Celery beat entry.")
        parser.add_argument("--every", metavar="MINUTES", type=int, default=15,
                            help="With --install-schedule: run every MINUTES minutes (default 15).")

    def handle(self, *args, **options):
        from saleor.core.db.connection import allow_writer

        with allow_writer():
            if options["install_schedule"] and options["uninstall_schedule"]:
                raise CommandError("use either --install-schedule or --uninstall-schedule")
            if options["install_schedule"]:
                return self._install(options)
            if options["uninstall_schedule"]:
                return self._uninstall()
            return self._reconcile(options)

    def _reconcile(self, options):
        from saleor_amazonpay.plugin import reconcile

        if options["since"] <= 0 or options["min_age"] < 0:
            raise CommandError("--since must be positive and --min-age must not be negative")
        dry_run = options["dry_run"]
        if dry_run:
            self.stdout.write("Dry run: nothing will be changed in Saleor or at Amazon Pay.")
        reports = reconcile.run(dry_run=dry_run, channel_slug=options["channel"], since_hours=options["since"],
                                min_age_minutes=options["min_age"], out=self.stdout.write)
        changed = sum(1 for r in reports if r.changes)
        failed = sum(1 for r in reports if r.error)
        verb = "would change" if dry_run else "changed"
        self.stdout.write(f"{len(reports)} payment(s) checked, {changed} {verb}, {failed} with errors.")

    @staticmethod
    def _models():
        from django_celery_beat.models import IntervalSchedule

        try:  # Saleor's beat scheduler (saleor.schedulers.schedulers.DatabaseScheduler) reads this model
            from saleor.schedulers.models import CustomPeriodicTask as PeriodicTask
        except ImportError:  # pragma: no cover - other Saleor versions: django_celery_beat's own
            from django_celery_beat.models import PeriodicTask
        return IntervalSchedule, PeriodicTask

    def _install(self, options):
        from saleor_amazonpay.plugin.reconcile import DEFAULT_MIN_AGE_MINUTES
        from saleor_amazonpay.tasks import TASK_NAME

        every = options["every"]
        if every < 1:
            raise CommandError("--every must be at least 1 minute")
        IntervalSchedule, PeriodicTask = self._models()
        interval, _ = IntervalSchedule.objects.get_or_create(every=every, period=IntervalSchedule.MINUTES)
        kwargs = {"since_hours": options["since"], "min_age_minutes": options["min_age"]
                  if options["min_age"] is not None else DEFAULT_MIN_AGE_MINUTES}
        if options["channel"]:
            kwargs["channel_slug"] = options["channel"]
        _, created = PeriodicTask.objects.update_or_create(
            name=SCHEDULE_NAME,
            defaults={"task": TASK_NAME, "interval": interval, "kwargs": json.dumps(kwargs), "enabled": True},
        )
        self.stdout.write(f"{'Created' if created else 'Updated'} the Celery beat entry {SCHEDULE_NAME!r}: "
                          f"{TASK_NAME} every {every} minute(s) with {json.dumps(kwargs)}. It runs when Celery "
                          "beat uses the database scheduler (saleor.schedulers.schedulers.DatabaseScheduler).")

    def _uninstall(self):
        _, PeriodicTask = self._models()
        deleted, _ = PeriodicTask.objects.filter(name=SCHEDULE_NAME).delete()
        self.stdout.write(f"Removed the Celery beat entry {SCHEDULE_NAME!r}." if deleted
                          else f"There was no Celery beat entry {SCHEDULE_NAME!r}.")
