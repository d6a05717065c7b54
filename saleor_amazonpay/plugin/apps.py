"""Django app of the second ``saleor.plugins`` entry point (the Transactions API companion).

Saleor adds every entry point's *name* to ``INSTALLED_APPS``; the companion plugin's entry
point is named ``saleor_amazonpay.plugin``, so this module gives it an explicit, unique app
label (the default would be the generic ``plugin``). Import-light on purpose: Django imports
it before the app registry is ready.
"""

from django.apps import AppConfig


class AmazonPayPluginConfig(AppConfig):
    name = "saleor_amazonpay.plugin"
    label = "saleor_amazonpay_plugin"
    verbose_name = "Amazon Pay (Saleor plugins)"
