"""``python manage.py amazonpay_install_app [--uninstall | --check]``.

Registers (or removes) the App identity Saleor needs to route Transactions API calls
(``paymentGatewayInitialize`` / ``transactionInitialize`` / ``transactionProcess``) to
Amazon Pay: identifier ``saleor.payments.amazonpay``, name "Amazon Pay", active, the
``HANDLE_PAYMENTS`` permission only, no webhooks, no tokens. Safe to run again: it repairs
the identity instead of duplicating it. See docs/transactions-api.md.
"""

from django.core.management.base import BaseCommand, CommandError


class Command(BaseCommand):
    help = (
        "Register the 'saleor.payments.amazonpay' app identity (HANDLE_PAYMENTS only, no tokens, "
        "no webhooks) that Saleor's Transactions API needs for Amazon Pay; --uninstall removes it."
    )

    def add_arguments(self, parser):
        group = parser.add_mutually_exclusive_group()
        group.add_argument("--uninstall", action="store_true", help="Remove the app identity.")
        group.add_argument("--check", action="store_true",
                           help="Only report whether the app identity is installed (exit code 1 if not).")

    def handle(self, *args, **options):
        from saleor_amazonpay.plugin import app_identity

        if options["check"]:
            if not app_identity.is_installed():
                raise CommandError(app_identity.MISSING_APP_MESSAGE)
            self.stdout.write(app_identity.describe())
            return
        if options["uninstall"]:
            removed = app_identity.uninstall()
            if removed:
                self.stdout.write(self.style.SUCCESS(
                    f"Removed the Amazon Pay app identity '{app_identity.APP_IDENTIFIER}'. The Transactions API "
                    "flow is now unavailable; existing transactions keep their records and reconnect if you "
                    "install again. The legacy checkoutComplete flow is unaffected."))
            else:
                self.stdout.write(f"The Amazon Pay app identity '{app_identity.APP_IDENTIFIER}' was not installed.")
            return
        result = app_identity.install()
        if result.created:
            self.stdout.write(self.style.SUCCESS(
                f"Installed the Amazon Pay app identity '{app_identity.APP_IDENTIFIER}' (app #{result.app_id}): "
                "HANDLE_PAYMENTS only, no tokens, no webhooks."))
        elif result.changes:
            self.stdout.write(self.style.SUCCESS(
                f"Repaired the Amazon Pay app identity (app #{result.app_id}): {'; '.join(result.changes)}."))
        else:
            self.stdout.write(
                f"The Amazon Pay app identity is already installed (app #{result.app_id}); nothing to do.")
        self.stdout.write(
            "Amazon Pay must also be active in each channel's Amazon Pay plugin configuration "
            "(Dashboard > Configuration > Plugins).")
