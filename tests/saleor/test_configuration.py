"""Per-channel configuration in the dashboard: discovery, validation, secrets."""

from __future__ import annotations

import logging

import graphene
import pytest

from django.conf import settings as django_settings
from saleor.graphql.tests.utils import get_graphql_content

from saleor_amazonpay.plugin.consts import PLUGIN_ID

pytestmark = pytest.mark.saleor

PLUGIN_UPDATE = """
mutation Update($id: ID!, $channel: ID!, $active: Boolean, $configuration: [ConfigurationItemInput!]) {
  pluginUpdate(id: $id, channelId: $channel, input: {active: $active, configuration: $configuration}) {
    plugin { id channelConfigurations { active configuration { name value type label helpText } } }
    errors { field code message }
  }
}
"""
PLUGINS = """
query Plugins {
  plugins(first: 50) { edges { node { id name channelConfigurations { channel { slug }
    configuration { name value } } } } }
}
"""


def _update(client, channel, active=True, **values):
    configuration = [{"name": k, "value": v if isinstance(v, str) else str(v).lower()} for k, v in values.items()]
    response = client.post_graphql(PLUGIN_UPDATE, {
        "id": PLUGIN_ID, "channel": graphene.Node.to_global_id("Channel", channel.pk),
        "active": active, "configuration": configuration,
    })
    return get_graphql_content(response)["data"]["pluginUpdate"]


def _body_of(pem: str) -> list[str]:
    return [line for line in pem.strip().splitlines() if not line.startswith("-----")]


def test_installed_package_registers_the_plugin_entry_point():
    # saleor.settings builds EXTERNAL_PLUGINS from the "saleor.plugins" entry points of
    # the installed packages; the test settings then reset PLUGINS, but the app stays.
    import importlib.metadata

    points = {e.name: e.value for e in importlib.metadata.entry_points(group="saleor.plugins")}
    assert points["saleor_amazonpay"] == "saleor_amazonpay.plugin.plugin:AmazonPayGatewayPlugin"
    assert "saleor_amazonpay" in django_settings.INSTALLED_APPS


def test_valid_configuration_saves_and_the_key_is_never_returned(
    amazonpay, staff_client, channel_USD, caplog
):
    caplog.set_level(logging.DEBUG)
    merchant = amazonpay.merchant
    data = _update(staff_client, channel_USD, merchant_id=merchant["merchant_id"], store_id=merchant["store_id"],
                   public_key_id=merchant["public_key_id"], private_key=merchant["private_key"],
                   checkout_review_return_url="https://shop.example.com/review",
                   checkout_result_return_url="https://shop.example.com/result",
                   api_base_url=amazonpay.emulator.url, sandbox=True)
    assert data["errors"] == []
    listed = get_graphql_content(staff_client.post_graphql(PLUGINS, {}))
    text = str(data) + str(listed) + caplog.text
    for line in _body_of(merchant["private_key"]):
        assert line not in text
    [config] = data["plugin"]["channelConfigurations"]
    fields = {c["name"]: c for c in config["configuration"]}
    assert fields["private_key"]["type"] == "SECRETMULTILINE"
    assert fields["payment_intent"]["label"] == "Payment intent" and fields["payment_intent"]["helpText"]


@pytest.mark.parametrize(
    ("values", "field", "fragment"),
    [
        ({"private_key": "-----BEGIN PRIVATE KEY-----\nnot a key\n-----END PRIVATE KEY-----"}, "private_key",
         "cannot be used"),
        ({"public_key_id": "LIVE-AAAAAAAAAAAAAAAAAAAAAAAA", "sandbox": True}, "public_key_id", "live key ID"),
        ({"supported_currencies": "USD,EUR"}, "supported_currencies", "does not support EUR"),
        ({"sandbox": False, "public_key_id": "AE4HVOSVMVJFNALR4ODV2NAZ", "api_base_url": "",
          "checkout_result_return_url": "http://shop.example.com/result"}, "checkout_result_return_url", "https"),
        ({"checkout_review_return_url": ""}, "checkout_review_return_url", "required"),
        ({"payment_intent": "Sale"}, "payment_intent", "Authorize"),
    ],
)
def test_invalid_configuration_returns_field_errors(amazonpay, staff_client, channel_USD, values, field, fragment):
    merchant = amazonpay.merchant
    base = dict(merchant_id=merchant["merchant_id"], store_id=merchant["store_id"],
                public_key_id=merchant["public_key_id"], private_key=merchant["private_key"],
                checkout_review_return_url="https://shop.example.com/review",
                checkout_result_return_url="https://shop.example.com/result",
                api_base_url=amazonpay.emulator.url, sandbox=True)
    base.update(values)
    data = _update(staff_client, channel_USD, **base)
    errors = {e["field"]: e for e in data["errors"]}
    camel = "".join(w.capitalize() if i else w for i, w in enumerate(field.split("_")))
    assert camel in errors, data["errors"]
    assert fragment in errors[camel]["message"]
    assert errors[camel]["code"] == "INVALID"


def test_inactive_configuration_is_not_validated_and_not_offered(amazonpay, staff_client, channel_USD,
                                                                 checkout_with_item_and_shipping):
    data = _update(staff_client, channel_USD, active=False, merchant_id="")
    assert data["errors"] == []
    assert amazonpay.gateway(checkout_with_item_and_shipping) is None


def test_a_misconfigured_key_does_not_break_the_gateway_list(amazonpay, checkout_with_item_and_shipping):
    amazonpay.configure(private_key="garbage")
    # Listing gateways must keep working for buyers; the broken plugin offers no button.
    assert amazonpay.gateway(checkout_with_item_and_shipping) is None
    amazonpay.configure()
    assert amazonpay.gateway(checkout_with_item_and_shipping) is not None
