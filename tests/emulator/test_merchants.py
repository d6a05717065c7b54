"""MerchantRegistry, key generation and the test-merchant helpers."""

from __future__ import annotations

import json
import re

import pytest

from saleor_amazonpay.core import AmazonPayConfig, Environment
from saleor_amazonpay.core.signing import load_private_key, load_public_key
from saleor_amazonpay.emulator import (
    Emulator,
    EmulatorApp,
    Merchant,
    MerchantKey,
    MerchantRegistry,
    make_test_merchant,
    new_public_key_id,
)

LEGACY_KEY_RE = re.compile(r"^[A-Z2-7]{24}$")


def test_generate_key_pair_returns_matching_pems(key_pair):
    private_pem, public_pem = key_pair
    assert private_pem.startswith("-----BEGIN PRIVATE KEY-----")
    assert public_pem.startswith("-----BEGIN PUBLIC KEY-----")
    private = load_private_key(private_pem)
    assert private.public_key().public_numbers() == load_public_key(public_pem).public_numbers()
    assert private.key_size == 2048


@pytest.mark.parametrize("env, prefix", [(None, ""), ("sandbox", "SANDBOX-"), ("live", "LIVE-"),
                                         (Environment.SANDBOX, "SANDBOX-")])
def test_new_public_key_id_shapes(env, prefix):
    key_id = new_public_key_id(env)
    assert key_id.startswith(prefix)
    assert LEGACY_KEY_RE.match(key_id[len(prefix):])
    assert new_public_key_id(env) != key_id


def test_register_and_lookup_case_insensitive(key_pair):
    registry = MerchantRegistry()
    merchant = registry.register("AMERCHANT1", "amzn1.application-oa2-client.x", "SANDBOX-ABC", key_pair[1], "uk")
    assert merchant.region == "eu"  # UK merchants use the EU endpoint
    found = registry.by_public_key_id("sandbox-abc")
    assert found is not None and found[0] is merchant
    assert found[1].environments == frozenset({Environment.SANDBOX})
    assert registry.by_public_key_id("nope") is None
    assert registry.get("AMERCHANT1") is merchant and len(registry) == 1


def test_legacy_key_is_valid_in_both_environments(key_pair):
    key = MerchantKey("AE4HVOSVMVJFNALR4ODV2NAZ", key_pair[1])
    assert key.environments == frozenset({Environment.SANDBOX, Environment.LIVE})


def test_same_merchant_entries_merge_keys_and_stores(key_pair, other_key_pair):
    registry = MerchantRegistry()
    registry.register("AM", "store-1", "KEY1", key_pair[1])
    registry.register("AM", "store-2", "KEY2", other_key_pair[1])
    merchant = registry.get("AM")
    assert merchant.store_ids == ["store-1", "store-2"]
    assert set(merchant.keys) == {"KEY1", "KEY2"}


def test_key_id_cannot_belong_to_two_merchants(key_pair):
    registry = MerchantRegistry()
    registry.register("AM1", "s", "KEY1", key_pair[1])
    with pytest.raises(ValueError, match="already registered"):
        registry.register("AM2", "s", "KEY1", key_pair[1])


def test_bad_public_key_and_region_fail_at_construction(key_pair):
    with pytest.raises(ValueError):
        MerchantKey("K", "not a pem")
    with pytest.raises(ValueError, match="region"):
        Merchant("AM", region="mars")


def test_from_file_with_inline_key_and_relative_key_path(tmp_path, key_pair, other_key_pair):
    (tmp_path / "keys").mkdir()
    (tmp_path / "keys" / "b.pem").write_text(other_key_pair[1])
    path = tmp_path / "merchants.json"
    path.write_text(json.dumps({"merchants": [
        {"merchantId": "AMA", "storeId": "store-a", "publicKeyId": "SANDBOX-AAA", "publicKey": key_pair[1],
         "region": "na", "ipnUrl": "http://127.0.0.1:9/ipn"},
        {"merchantId": "AMB", "storeId": "store-b", "publicKeyId": "BBBBBBBBBBBBBBBBBBBBBBBB",
         "publicKeyPath": "keys/b.pem", "region": "jp", "environments": ["sandbox"]},
    ]}))
    registry = MerchantRegistry.from_file(path)
    a, b = registry.get("AMA"), registry.get("AMB")
    assert a.ipn_url == "http://127.0.0.1:9/ipn" and a.store_id == "store-a"
    assert b.region == "jp" and b.environments == frozenset({Environment.SANDBOX})
    assert b.public_dict()["publicKeyIds"] == ["BBBBBBBBBBBBBBBBBBBBBBBB"]


@pytest.mark.parametrize("data, message", [
    ({}, "expected"),
    ({"merchants": [{"publicKeyId": "K", "publicKey": "x"}]}, "merchantId"),
    ({"merchants": [{"merchantId": "M", "publicKeyId": "K"}]}, "publicKey"),
    ({"merchants": [{"merchantId": "M", "publicKeyId": "K", "publicKey": "garbage"}]}, "cannot be parsed"),
    ({"merchants": ["x"]}, "object"),
])
def test_from_dict_rejects_bad_entries(data, message):
    with pytest.raises(ValueError, match=message):
        MerchantRegistry.from_dict(data)


def test_make_test_merchant_gives_a_working_config(key_pair):
    registry = MerchantRegistry()
    kwargs, pem = make_test_merchant("live", "eu", registry=registry, base_url="http://x.test", key_pair=key_pair)
    config = AmazonPayConfig(**kwargs)
    assert config.public_key_id.startswith("LIVE-") and not config.sandbox and config.region == "eu"
    assert config.base_url == "http://x.test" and pem == key_pair[0]
    assert registry.get(config.merchant_id).store_ids == [config.store_id]
    assert config.store_id.startswith("amzn1.application-oa2-client.")
    assert re.match(r"^A[A-Z0-9]{13}$", config.merchant_id)


def test_make_test_merchant_legacy_key(key_pair):
    app = EmulatorApp()
    kwargs, _ = app.make_test_merchant("sandbox", key_pair=key_pair, legacy_key_id=True)
    assert LEGACY_KEY_RE.match(kwargs["public_key_id"])
    assert AmazonPayConfig(**kwargs).path_prefix == "/sandbox/v2"
    assert kwargs["base_url"] == "http://pay-api.test"


def test_emulator_for_testing_has_a_merchant(key_pair):
    emulator = Emulator.for_testing("sandbox", "jp", key_pair=key_pair)
    try:
        config = AmazonPayConfig(**emulator.test_config)
        assert config.base_url == emulator.url and config.region == "jp"
        assert emulator.test_private_key == key_pair[0]
        assert len(emulator.registry) == 1
    finally:
        emulator.stop()
