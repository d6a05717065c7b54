"""Smoke test of the Saleor-backed test harness.

Proves that Saleor's fixtures, its GraphQL test client, its PostgreSQL test
database and the network policy (only local hosts) work from this repository.
"""

import socket
import threading

import graphene
import pytest
from pytest_socket import SocketConnectBlockedError

from saleor.checkout.calculations import calculate_checkout_total_with_gift_cards
from saleor.checkout.fetch import fetch_checkout_info, fetch_checkout_lines
from saleor.graphql.tests.utils import get_graphql_content
from saleor.plugins.manager import get_plugins_manager

QUERY_CHECKOUT = """
query Checkout($id: ID!) {
  checkout(id: $id) {
    channel { slug }
    lines { quantity }
    totalPrice { gross { amount currency } }
    availablePaymentGateways { id name currencies }
  }
}
"""


def test_checkout_query_through_saleor_graphql(
    api_client, checkout_with_item_and_shipping, channel_USD
):
    checkout = checkout_with_item_and_shipping
    manager = get_plugins_manager(allow_replica=False)
    lines, _ = fetch_checkout_lines(checkout)
    checkout_info = fetch_checkout_info(checkout, lines, manager)
    expected_total = calculate_checkout_total_with_gift_cards(
        manager, checkout_info, lines
    )

    response = api_client.post_graphql(
        QUERY_CHECKOUT, {"id": graphene.Node.to_global_id("Checkout", checkout.pk)}
    )

    data = get_graphql_content(response)["data"]["checkout"]
    assert data["channel"]["slug"] == channel_USD.slug
    assert [line["quantity"] for line in data["lines"]] == [3]
    gross = data["totalPrice"]["gross"]
    assert gross["currency"] == "USD"
    assert gross["amount"] > 0
    assert gross["amount"] == float(expected_total.gross.amount)
    # Saleor's autouse `setup_dummy_gateways` fixture sets settings.PLUGINS to the
    # two dummy gateways; both are listed for the checkout's channel and currency.
    gateway_ids = {gateway["id"] for gateway in data["availablePaymentGateways"]}
    assert "mirumee.payments.dummy" in gateway_ids
    assert all(
        "USD" in gateway["currencies"] for gateway in data["availablePaymentGateways"]
    )


def test_network_policy_allows_only_local_hosts():
    server = socket.create_server(("127.0.0.1", 0))
    port = server.getsockname()[1]
    accepted = threading.Thread(target=lambda: server.accept()[0].close())
    accepted.start()
    with socket.create_connection(("127.0.0.1", port), timeout=5):
        pass
    accepted.join(timeout=5)
    server.close()

    with pytest.raises(SocketConnectBlockedError):
        socket.create_connection(("93.184.215.14", 443), timeout=5)
