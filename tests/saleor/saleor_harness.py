"""Bootstrap plugin for the Saleor-backed tests, loaded with ``-p saleor_harness``.

It is imported by pytest *before* pytest-django reads the Django settings, which is
the only point where the environment for Saleor's settings module can still be set:

* ``DJANGO_SETTINGS_MODULE=saleor.tests.settings`` (Saleor's own test settings:
  ``PLUGINS = []``, eager Celery, writer-DB restrictions, ...);
* ``DATABASE_URL``: a local PostgreSQL database used only by these tests
  (pytest-django creates ``test_<name>`` next to it). Override it with
  ``SALEOR_AMAZONPAY_TEST_DATABASE_URL``.

It also adds the command-line options Saleor's own ``setup.cfg`` uses, but only
when Saleor is importable (otherwise the conftest reports the tests as skipped):
``--reuse-db`` (keep the migrated test database between runs; pass ``--create-db``
to rebuild it), ``--disable-socket --allow-hosts=127.0.0.1,::1 --allow-unix-socket``
(no network except local services such as the Amazon Pay emulator and PostgreSQL).

This module must not import Saleor or Django.
"""

import importlib.util
import os

DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/saleor_amazonpay"
ALLOWED_HOSTS = "127.0.0.1,::1"

_saleor_spec = importlib.util.find_spec("saleor")
# A namespace package (e.g. a tests/saleor directory on sys.path) is not Saleor.
SALEOR_AVAILABLE = _saleor_spec is not None and _saleor_spec.origin is not None

if SALEOR_AVAILABLE:
    os.environ["DJANGO_SETTINGS_MODULE"] = "saleor.tests.settings"
    os.environ["DATABASE_URL"] = os.environ.get(
        "SALEOR_AMAZONPAY_TEST_DATABASE_URL", DEFAULT_DATABASE_URL
    )
    # saleor.tests.settings sets its own SECRET_KEY; this only avoids the
    # "SECRET_KEY not configured" warning of saleor.settings (DEBUG defaults to True).
    os.environ.setdefault("SECRET_KEY", "NOTREALLY")
    # The replica connection is a test mirror of "default" (see Saleor's settings).
    os.environ.pop("DATABASE_URL_REPLICA", None)


def pytest_load_initial_conftests(early_config, parser, args):
    if not SALEOR_AVAILABLE:
        return
    extra = []
    plugins = early_config.pluginmanager
    if plugins.hasplugin("django") and "--create-db" not in args:
        extra.append("--reuse-db")
    if plugins.hasplugin("socket"):
        extra += [
            "--disable-socket",
            f"--allow-hosts={ALLOWED_HOSTS}",
            "--allow-unix-socket",
        ]
    args[:] = extra + args
