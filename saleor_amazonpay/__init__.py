"""Amazon Pay (Checkout v2) for Saleor: a Saleor-free API client, an emulator and a gateway plugin.

This module must stay import-light: Saleor imports the entry-point *name* (this package)
as a Django app before the app registry is ready.
"""

__version__ = "0.1.0"
