"""A demo storefront for Amazon Pay on Saleor: static HTML + JavaScript, no build step.

``saleor-amazonpay demo --storefront --api-url URL --channel SLUG`` serves it. The page
talks to Saleor's GraphQL API only (as any storefront would): it lists a product, creates
a checkout, renders the Amazon Pay button from the plugin's gateway configuration, and
walks the buyer through Amazon's review and result pages to the order. Both flows are on
the page: ``checkoutComplete`` (Payment API) and the Transactions API.

Standard library only; it never imports Saleor or Django::

    from saleor_amazonpay.storefront import StorefrontServer

    with StorefrontServer("http://127.0.0.1:8000/graphql/", "default-channel", port=8766) as shop:
        shop.url, shop.review_url, shop.result_url
"""

from .server import DEFAULT_PORT, GATEWAY_ID, StorefrontServer, serve

__all__ = ["DEFAULT_PORT", "GATEWAY_ID", "StorefrontServer", "serve"]
