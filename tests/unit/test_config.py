"""AmazonPayConfig: environments, regions, overrides, validation, secrets kept out of reprs."""

from __future__ import annotations

import dataclasses

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from saleor_amazonpay.core import (
    AmazonPayClient,
    AmazonPayConfig,
    ConfigError,
    Environment,
    RequestSigner,
    SignatureAlgorithm,
    Timeouts,
)

pytestmark = pytest.mark.unit

LEGACY = "ABC123DEF456XYZ789IJK000"
PASSPHRASE = "pa55-Phrase-Zx9q"


# --- environments and path prefixes -----------------------------------------------------------


@pytest.mark.parametrize(
    "key_id, sandbox_flag, expected_prefix, expected_sandbox",
    [
        (LEGACY, True, "/sandbox/v2", True),
        (LEGACY, False, "/live/v2", False),
        ("SANDBOX-AHEGSJCM3XFZ3SKVFAN4OWEF", True, "/v2", True),
        ("SANDBOX-AHEGSJCM3XFZ3SKVFAN4OWEF", False, "/v2", True),  # key id wins over the flag
        ("LIVE-AHEGSJCM3XFZ3SKVFAN4OWEF", False, "/v2", False),
        ("LIVE-AHEGSJCM3XFZ3SKVFAN4OWEF", True, "/v2", False),  # key id wins over the flag
        ("sandbox-ahegsjcm3xfz3skvfan4owef", False, "/v2", True),  # prefix check is case-insensitive
        ("live-ahegsjcm3xfz3skvfan4owef", True, "/v2", False),
    ],
)
def test_path_prefix_and_environment(make_config, key_id, sandbox_flag, expected_prefix, expected_sandbox):
    config = make_config(public_key_id=key_id, sandbox=sandbox_flag)
    assert config.path_prefix == expected_prefix
    assert config.sandbox is expected_sandbox
    assert config.environment is (Environment.SANDBOX if expected_sandbox else Environment.LIVE)


def test_environment_values():
    assert Environment.SANDBOX.value == "sandbox"
    assert Environment.LIVE.value == "live"


# --- regions ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "region, api_region, host, ledger",
    [
        ("na", "na", "pay-api.amazon.com", ("USD",)),
        ("us", "na", "pay-api.amazon.com", ("USD",)),
        ("US", "na", "pay-api.amazon.com", ("USD",)),
        ("eu", "eu", "pay-api.amazon.eu", ("EUR", "GBP")),
        ("de", "eu", "pay-api.amazon.eu", ("EUR", "GBP")),
        ("uk", "eu", "pay-api.amazon.eu", ("EUR", "GBP")),  # there is no UK host
        (" UK ", "eu", "pay-api.amazon.eu", ("EUR", "GBP")),
        ("jp", "jp", "pay-api.amazon.jp", ("JPY",)),
    ],
)
def test_regions(make_config, region, api_region, host, ledger):
    config = make_config(region=region)
    assert config.region == api_region
    assert config.api_host == host
    assert config.origin == f"https://{host}"
    assert set(config.ledger_currencies) == set(ledger)


@pytest.mark.parametrize("region", ["xx", "asia", "", "north-america"])
def test_unknown_region_is_a_config_error(make_config, region):
    with pytest.raises(ConfigError) as info:
        make_config(region=region)
    assert info.value.field == "region"
    assert isinstance(info.value, ValueError)


# --- base_url override ------------------------------------------------------------------------


def test_base_url_override_allows_http_and_sets_host(make_config):
    config = make_config(base_url="http://127.0.0.1:8765/", region="eu")
    assert config.base_url == "http://127.0.0.1:8765"
    assert config.origin == "http://127.0.0.1:8765"
    assert config.api_host == "127.0.0.1"  # host only: no scheme, no port
    assert config.region == "eu"  # the region header still follows the configured region


def test_base_url_https_override(make_config):
    config = make_config(base_url="https://emulator.test:8443")
    assert config.origin == "https://emulator.test:8443"
    assert config.api_host == "emulator.test"


@pytest.mark.parametrize("base_url", ["ftp://127.0.0.1:21", "127.0.0.1:8000", "http://", "not a url"])
def test_bad_base_url(make_config, base_url):
    with pytest.raises(ConfigError) as info:
        make_config(base_url=base_url)
    assert info.value.field == "base_url"


# --- required fields --------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["merchant_id", "store_id", "public_key_id"])
@pytest.mark.parametrize("value", ["", "   ", None])
def test_missing_required_fields(make_config, name, value):
    with pytest.raises(ConfigError) as info:
        make_config(**{name: value})
    assert info.value.field == name


def test_missing_private_key(make_config):
    with pytest.raises(ConfigError) as info:
        make_config(private_key="", private_key_path=None)
    assert info.value.field == "private_key"


def test_fields_are_stripped(make_config):
    config = make_config(merchant_id="  A1B2C3  ", public_key_id=" SANDBOX-XYZ \n")
    assert config.merchant_id == "A1B2C3"
    assert config.public_key_id == "SANDBOX-XYZ"
    assert config.path_prefix == "/v2"


def test_config_is_frozen(amazonpay_config):
    with pytest.raises(dataclasses.FrozenInstanceError):
        amazonpay_config.sandbox = False


# --- algorithm --------------------------------------------------------------------------------


def test_default_algorithm_is_v2(amazonpay_config):
    assert amazonpay_config.algorithm is SignatureAlgorithm.RSASSA_PSS_V2


def test_algorithm_accepts_strings(make_config):
    config = make_config(algorithm="AMZN-PAY-RSASSA-PSS")
    assert config.algorithm is SignatureAlgorithm.RSASSA_PSS
    assert config.signer.algorithm is SignatureAlgorithm.RSASSA_PSS


def test_unknown_algorithm_is_a_config_error(make_config):
    with pytest.raises(ConfigError) as info:
        make_config(algorithm="RSA-SHA256")
    assert info.value.field == "algorithm"


# --- keys -------------------------------------------------------------------------------------


def test_signer_from_pem_text(amazonpay_config, rsa_private_key):
    signer = amazonpay_config.signer
    assert isinstance(signer, RequestSigner)
    assert signer.public_key_id == "ABC123DEF456XYZ789IJK000"
    assert signer._key.private_numbers() == rsa_private_key.private_numbers()
    assert amazonpay_config.signer is signer  # cached
    assert amazonpay_config.validate() is amazonpay_config


def test_signer_from_pem_file_path(make_config, tmp_path, private_key_pem, rsa_private_key):
    path = tmp_path / "private.pem"
    path.write_text(private_key_pem)
    via_path = make_config(private_key="", private_key_path=str(path))
    assert via_path.signer._key.private_numbers() == rsa_private_key.private_numbers()
    # A private_key value that is not PEM text is treated as a file path.
    via_private_key = make_config(private_key=str(path))
    assert via_private_key.signer._key.private_numbers() == rsa_private_key.private_numbers()


def test_missing_key_file_is_a_config_error(make_config, tmp_path):
    config = make_config(private_key="", private_key_path=str(tmp_path / "nope.pem"))
    with pytest.raises(ConfigError) as info:
        config.validate()
    assert info.value.field == "private_key"


def test_encrypted_key_with_passphrase(make_config, rsa_private_key, pem_body_fragment):
    pem = rsa_private_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(PASSPHRASE.encode()),
    ).decode()
    config = make_config(private_key=pem, private_key_passphrase=PASSPHRASE)
    assert config.signer._key.private_numbers() == rsa_private_key.private_numbers()

    for wrong in ("not-the-passphrase", None):
        bad = make_config(private_key=pem, private_key_passphrase=wrong)
        with pytest.raises(ConfigError) as info:
            bad.validate()
        assert info.value.field == "private_key"
        text = str(info.value) + repr(info.value)
        assert PASSPHRASE not in text
        assert "not-the-passphrase" not in text
        assert pem.splitlines()[2] not in text


def test_non_rsa_key_is_rejected(make_config):
    ec_pem = (
        ec.generate_private_key(ec.SECP256R1())
        .private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
        .decode()
    )
    config = make_config(private_key=ec_pem)
    with pytest.raises(ConfigError) as info:
        config.validate()
    assert info.value.field == "private_key"
    assert "RSA" in str(info.value)
    assert ec_pem.splitlines()[1] not in str(info.value)


def test_unparseable_pem_is_a_config_error(make_config):
    config = make_config(private_key="-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n")
    with pytest.raises(ConfigError) as info:
        config.validate()
    assert info.value.field == "private_key"


# --- secrets never in repr/str ------------------------------------------------------------------


def test_repr_and_str_hide_key_and_passphrase(
    make_config, private_key_pem, pem_body_fragment, rsa_private_key, tmp_path
):
    encrypted = rsa_private_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(PASSPHRASE.encode()),
    ).decode()
    encrypted_fragment = [line for line in encrypted.splitlines() if not line.startswith("-----")][2][:40]
    for config in (
        make_config(),
        make_config(private_key=encrypted, private_key_passphrase=PASSPHRASE),
    ):
        config.validate()  # the parsed key is cached on the instance: still hidden
        client = AmazonPayClient(config)
        texts = [
            repr(config),
            str(config),
            f"{config}",
            repr(config.signer),
            str(config.signer),
            repr(client),
            str(client),
        ]
        for text in texts:
            assert pem_body_fragment not in text
            assert encrypted_fragment not in text
            assert PASSPHRASE not in text
            assert "PRIVATE KEY" not in text
        assert "A1B2C3D4E5F6G7" in repr(config)  # the useful, public parts remain
        assert "ABC123DEF456XYZ789IJK000" in repr(config)
        assert "A1B2C3D4E5F6G7" in repr(client)


# --- timeouts ---------------------------------------------------------------------------------


def test_timeouts(make_config):
    assert Timeouts().connect > 0 and Timeouts().read >= Timeouts().connect
    config = make_config(timeouts=Timeouts(connect=1, read=0.5))
    assert config.timeouts == Timeouts(connect=1, read=0.5)


# --- from_env ---------------------------------------------------------------------------------


def _env(private_key_pem, **overrides):
    env = {
        "AMAZONPAY_MERCHANT_ID": "A1B2C3D4E5F6G7",
        "AMAZONPAY_STORE_ID": "amzn1.application-oa2-client.0123456789abcdef0123456789abcdef",
        "AMAZONPAY_PUBLIC_KEY_ID": LEGACY,
        "AMAZONPAY_PRIVATE_KEY": private_key_pem,
    }
    env.update(overrides)
    return env


def test_from_env_defaults(private_key_pem):
    config = AmazonPayConfig.from_env(_env(private_key_pem))
    assert config.merchant_id == "A1B2C3D4E5F6G7"
    assert config.public_key_id == LEGACY
    assert config.region == "na"
    assert config.sandbox is True
    assert config.algorithm is SignatureAlgorithm.RSASSA_PSS_V2
    assert config.base_url is None
    assert config.path_prefix == "/sandbox/v2"
    config.validate()


def test_from_env_all_settings(private_key_pem, tmp_path):
    path = tmp_path / "k.pem"
    path.write_text(private_key_pem)
    env = _env(
        private_key_pem,
        AMAZONPAY_PRIVATE_KEY="",
        AMAZONPAY_PRIVATE_KEY_PATH=str(path),
        AMAZONPAY_REGION="uk",
        AMAZONPAY_SANDBOX="false",
        AMAZONPAY_ALGORITHM="AMZN-PAY-RSASSA-PSS",
        AMAZONPAY_BASE_URL="http://127.0.0.1:9000",
    )
    config = AmazonPayConfig.from_env(env)
    assert config.region == "eu"
    assert config.sandbox is False
    assert config.path_prefix == "/live/v2"
    assert config.algorithm is SignatureAlgorithm.RSASSA_PSS
    assert config.origin == "http://127.0.0.1:9000"
    assert config.private_key_path == str(path)
    config.validate()


@pytest.mark.parametrize("value, expected", [("1", True), ("true", True), ("YES", True), ("0", False), ("no", False)])
def test_from_env_sandbox_flag(private_key_pem, value, expected):
    assert AmazonPayConfig.from_env(_env(private_key_pem, AMAZONPAY_SANDBOX=value)).sandbox is expected


def test_from_env_custom_prefix_and_os_environ(monkeypatch, private_key_pem):
    for name, value in _env(private_key_pem).items():
        monkeypatch.setenv(name.replace("AMAZONPAY_", "SHOP_AP_"), value)
    monkeypatch.setenv("SHOP_AP_PUBLIC_KEY_ID", "LIVE-AHEGSJCM3XFZ3SKVFAN4OWEF")
    config = AmazonPayConfig.from_env(prefix="SHOP_AP_")
    assert config.public_key_id == "LIVE-AHEGSJCM3XFZ3SKVFAN4OWEF"
    assert config.sandbox is False
    assert config.path_prefix == "/v2"


def test_from_env_missing_values_are_config_errors(private_key_pem):
    env = _env(private_key_pem)
    del env["AMAZONPAY_STORE_ID"]
    with pytest.raises(ConfigError) as info:
        AmazonPayConfig.from_env(env)
    assert info.value.field == "store_id"
    with pytest.raises(ConfigError) as info:
        AmazonPayConfig.from_env({})
    assert info.value.field in {"merchant_id", "store_id", "public_key_id", "private_key"}


def test_from_env_bad_algorithm_or_region_is_a_config_error(private_key_pem):
    with pytest.raises(ConfigError) as info:
        AmazonPayConfig.from_env(_env(private_key_pem, AMAZONPAY_ALGORITHM="RSA-SHA256"))
    assert info.value.field == "algorithm"
    with pytest.raises(ConfigError) as info:
        AmazonPayConfig.from_env(_env(private_key_pem, AMAZONPAY_REGION="mars"))
    assert info.value.field == "region"


def test_a_pem_that_lost_its_line_breaks_still_loads():
    from saleor_amazonpay.core.config import AmazonPayConfig, normalize_pem
    from saleor_amazonpay.core.signing import load_private_key
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.hazmat.primitives import serialization

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption()).decode()
    single_line = pem.replace("\n", " ")
    escaped = pem.replace("\n", "\\n")
    for mangled in (single_line, escaped):
        assert normalize_pem(mangled) == pem
        config = AmazonPayConfig(merchant_id="M", store_id="S", public_key_id="SANDBOX-X", private_key=mangled)
        signature = config.signer.sign_string("x")
        assert signature
    assert load_private_key(normalize_pem(single_line)).private_numbers() == key.private_numbers()
