"""The App identity that lets Saleor's Transactions API reach Amazon Pay.

Saleor resolves ``paymentGateway.id`` of ``transactionInitialize`` / ``transactionProcess``
only as an ``App.identifier``. This package is a plugin, not an App server, so it registers
a *local identity*: an ``App`` row whose identifier is the plugin id, active, with the
``HANDLE_PAYMENTS`` permission and nothing else — no webhooks (the companion plugin answers
in-process) and no tokens (nobody can call the API as this App).

``python manage.py amazonpay_install_app`` calls :func:`install`; ``--uninstall`` calls
:func:`uninstall`. Both are idempotent.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from .consts import PLUGIN_ID, PLUGIN_NAME

logger = logging.getLogger("saleor_amazonpay.transactions")

APP_IDENTIFIER = PLUGIN_ID
APP_NAME = PLUGIN_NAME
APP_PERMISSIONS = ("payment.handle_payments",)
INSTALL_COMMAND = "python manage.py amazonpay_install_app"
ABOUT_APP = (
    "Registered by the saleor-amazonpay package so that Saleor's Transactions API "
    "(paymentGatewayInitialize, transactionInitialize, transactionProcess) can use Amazon Pay. "
    "Amazon Pay itself is configured per channel in the Amazon Pay plugin. This app has no "
    "webhooks and no tokens; remove it with `python manage.py amazonpay_install_app --uninstall`."
)

#: What a merchant (and the storefront developer) reads when the identity is missing.
MISSING_APP_MESSAGE = (
    "Amazon Pay is not installed for Saleor's Transactions API: the app identity "
    f"'{APP_IDENTIFIER}' is missing or inactive. Run `{INSTALL_COMMAND}` on the Saleor server."
)


@dataclass
class InstallResult:
    app_id: int
    created: bool
    changes: list[str] = field(default_factory=list)


def _apps():
    from saleor.app.models import App

    return App.objects.filter(identifier=APP_IDENTIFIER, removed_at__isnull=True)


def find_app():
    """The active App identity, or None."""
    return _apps().filter(is_active=True).order_by("pk").first()


def is_installed() -> bool:
    return find_app() is not None


_reported_once: set[str] = set()


def report_missing(context: str, *, once: bool = False) -> None:
    """Log (as an error) that the identity is missing; ``once``: only the first time per process."""
    if once:
        if context in _reported_once:
            return
        _reported_once.add(context)
    logger.error("Amazon Pay %s: %s", context, MISSING_APP_MESSAGE)


def _permissions():
    from saleor.permission.enums import get_permissions

    perms = list(get_permissions(list(APP_PERMISSIONS)))
    if len(perms) != len(APP_PERMISSIONS):
        raise RuntimeError(f"Saleor permissions {APP_PERMISSIONS} not found; run Saleor's migrations first")
    return perms


def install() -> InstallResult:
    """Create or repair the App identity so that it is exactly what Amazon Pay needs."""
    from django.db import transaction

    from saleor.app.models import App

    with transaction.atomic():
        candidates = list(_apps().order_by("pk").select_for_update())
        changes: list[str] = []
        if candidates:
            app, created = candidates[0], False
            for extra in candidates[1:]:
                # Two identities would make Saleor pick one arbitrarily.
                changes.append(f"removed duplicate app #{extra.pk}")
                extra.delete()
        else:
            app = App.objects.create(name=APP_NAME, identifier=APP_IDENTIFIER, is_active=True,
                                     about_app=ABOUT_APP)
            created = True
        fields = []
        if app.name != APP_NAME:
            app.name = APP_NAME
            fields.append("name")
        if not app.is_active:
            app.is_active = True
            fields.append("is_active")
            changes.append("activated")
        if app.about_app != ABOUT_APP:
            app.about_app = ABOUT_APP
            fields.append("about_app")
        if fields:
            app.save(update_fields=fields)
        wanted = {p.pk for p in _permissions()}
        current = set(app.permissions.values_list("pk", flat=True))
        if current != wanted:
            app.permissions.set(wanted)
            if not created:
                changes.append("permissions reset to HANDLE_PAYMENTS only")
        # Least privilege: the identity is never an API credential and never a webhook target.
        tokens = app.tokens.count()
        if tokens:
            app.tokens.all().delete()
            changes.append(f"removed {tokens} API token(s)")
        webhooks = app.webhooks.count()
        if webhooks:
            app.webhooks.all().delete()
            changes.append(f"removed {webhooks} webhook(s)")
    return InstallResult(app.pk, created, changes)


def uninstall() -> int:
    """Remove the App identity (every row with the identifier); return how many were removed.

    Transactions keep their ``app_identifier``: installing again reconnects them.
    """
    from saleor.app.models import App

    apps = App.objects.filter(identifier=APP_IDENTIFIER)
    count = apps.count()
    for app in apps:
        app.delete()
    return count


def describe() -> str:
    """One line for ``--check`` and for logs."""
    app = find_app()
    if app is None:
        return MISSING_APP_MESSAGE
    perms = sorted(f"{ct}.{code}" for ct, code in app.permissions.values_list("content_type__app_label", "codename"))
    return (f"App identity '{APP_IDENTIFIER}' installed (app #{app.pk}, active, permissions: "
            f"{', '.join(perms) or 'none'}, tokens: {app.tokens.count()}, webhooks: {app.webhooks.count()}).")
