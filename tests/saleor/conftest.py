"""Top-level conftest of the Saleor-backed tests (rootdir: tests/saleor).

Run them with the Python of a Saleor environment, from the repository root::

    ~/saleor-env/venv/bin/python -m pytest -c tests/saleor/pytest.ini tests/saleor

When Saleor is importable and the ``saleor_harness`` plugin is active (it is loaded
by ``tests/saleor/pytest.ini``), this file does what Saleor's own root
``conftest.py`` does: it routes Django test cases to both the ``default`` and the
``replica`` connection, replaces the replica connection with Saleor's fake mirror
and loads Saleor's fixture modules (``api_client``, ``staff_api_client``,
``channel_USD``, ``checkout_with_item_and_shipping``, ...).

Otherwise every test module in this directory is reported as skipped with the
reason below (no Saleor import is attempted by the test modules).

Do NOT add an ``__init__.py`` to tests/saleor: with pytest's default import mode
this conftest would then be imported as ``saleor.conftest`` and clash with Saleor's
``saleor`` package ("No module named 'saleor.conftest'").
"""

import importlib.util
import sys

import pytest

RUN_COMMAND = (
    "~/saleor-env/venv/bin/python -m pytest -c tests/saleor/pytest.ini tests/saleor"
)


def _saleor_importable():
    # A namespace package is not Saleor: when /work/main/tests is on sys.path,
    # this very directory is importable as a namespace package named "saleor".
    spec = importlib.util.find_spec("saleor")
    return spec is not None and spec.origin is not None


_skip_reason = None
if not _saleor_importable():
    _skip_reason = (
        "Saleor is not installed in this Python environment; run the Saleor-backed "
        f"tests with {RUN_COMMAND} (see docs/development.md)"
    )
elif "saleor_harness" not in sys.modules:
    _skip_reason = (
        "The Saleor-backed tests need their own pytest configuration "
        f"(tests/saleor/pytest.ini); run them with {RUN_COMMAND} "
        "(see docs/development.md)"
    )


if _skip_reason is not None:

    class _SkippedModule(pytest.Module):
        def collect(self):
            pytest.skip(_skip_reason)

    def pytest_pycollect_makemodule(module_path, parent):
        return _SkippedModule.from_parent(parent, path=module_path)

else:
    import django.test
    from django.conf import settings

    from saleor.tests.utils import prepare_test_db_connections

    # As in Saleor's root conftest.py: make every Django test case (and pytest-django's
    # `db` fixture) use both connections, so tests need no
    # @pytest.mark.django_db(databases=["default", "replica"]).
    TEST_DATABASES = {
        settings.DATABASE_CONNECTION_DEFAULT_NAME,
        settings.DATABASE_CONNECTION_REPLICA_NAME,
    }
    django.test.TransactionTestCase.databases = TEST_DATABASES
    django.test.TestCase.databases = TEST_DATABASES

    # The replica connection becomes a wrapper of the writer connection (same
    # transaction), like in Saleor's own test suite.
    prepare_test_db_connections()

    # Saleor's fixture modules (same list as Saleor 3.23's root conftest.py).
    # Allowed here because this conftest is at the rootdir (tests/saleor/pytest.ini).
    pytest_plugins = [
        "saleor.tests.fixtures",
        "saleor.app.tests.fixtures",
        "saleor.plugins.tests.fixtures",
        "saleor.graphql.tests.fixtures",
        "saleor.webhook.tests.fixtures",
        "saleor.tax.tests.fixtures",
        "saleor.channel.tests.fixtures",
        "saleor.page.tests.fixtures",
        "saleor.menu.tests.fixtures",
        "saleor.warehouse.tests.fixtures",
        "saleor.thumbnail.tests.fixtures",
        "saleor.order.tests.fixtures",
        "saleor.product.tests.fixtures",
        "saleor.site.tests.fixtures",
        "saleor.shipping.tests.fixtures",
        "saleor.permission.tests.fixtures",
        "saleor.giftcard.tests.fixtures",
        "saleor.discount.tests.fixtures",
        "saleor.checkout.tests.fixtures",
        "saleor.attribute.tests.fixtures",
        "saleor.account.tests.fixtures",
        "saleor.graphql.account.tests.fixtures",
        "saleor.payment.tests.fixtures",
        "saleor.webhook.tests.circuit_breaker.fixtures",
        # Ours: the emulator, the configured plugin and a storefront driver.
        "amazonpay_fixtures",
        # Notifications: delivering the emulator's signed IPNs to the plugin endpoint.
        "ipn_fixtures",
        # Transactions API: both plugins behind Saleor's WebhookPlugin, the App identity.
        "transactions_fixtures",
    ]

    def pytest_addoption(parser):
        parser.addoption(
            "--run-slow",
            action="store_true",
            default=False,
            help="Run tests marked as slow.",
        )

    def pytest_configure(config):
        config.addinivalue_line("markers", "slow: mark test as slow")

    def pytest_collection_modifyitems(config, items):
        if config.getoption("--run-slow"):
            return
        skip_slow = pytest.mark.skip(
            reason="test is marked as slow and --run-slow is not passed"
        )
        for item in items:
            if "slow" in item.keywords:
                item.add_marker(skip_slow)
