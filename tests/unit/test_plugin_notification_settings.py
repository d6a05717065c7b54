"""Notification settings of the plugin (pure Python: ``saleor_amazonpay.plugin.settings``)."""

from __future__ import annotations

import pytest

from saleor_amazonpay.plugin.settings import (
    FIELD_NAMES,
    FIELDS,
    OUTPUT,
    ChannelSettings,
    trusted_certificate_problem,
    validate,
)

EMULATOR = "http://127.0.0.1:8765"
CERT = f"{EMULATOR}/_emulator/sns-cert.pem"


def _settings(**values) -> ChannelSettings:
    base = {"sandbox": True, "api_base_url": EMULATOR}
    base.update(values)
    return ChannelSettings.from_items(base)


def test_fields_are_appended_and_the_url_is_read_only():
    assert FIELD_NAMES[-3:] == ("ipn_url", "ipn_topic_arns", "ipn_trusted_certificate_url")
    [url] = [f for f in FIELDS if f.name == "ipn_url"]
    assert url.type == OUTPUT and "Seller Central" in url.help_text


def test_topics_are_split_trimmed_and_deduplicated():
    settings = _settings(ipn_topic_arns=" arn:aws:sns:us-east-1:123456789012:A ,,arn:aws:sns:eu-west-1:123456789012:B,"
                                        "arn:aws:sns:us-east-1:123456789012:A")
    assert settings.ipn_topics == ("arn:aws:sns:us-east-1:123456789012:A", "arn:aws:sns:eu-west-1:123456789012:B")
    assert _settings().ipn_topics == ()
    assert "ipn_topic_arns" not in validate(settings)


@pytest.mark.parametrize("topics", ["not-an-arn", "arn:aws:sqs:us-east-1:123456789012:Queue",
                                    "arn:aws:sns:us-east-1:12345:Short", "arn:aws:sns:us-east-1:123456789012:a b"])
def test_malformed_topics_are_refused(topics):
    assert "SNS topic ARNs" in validate(_settings(ipn_topic_arns=topics))["ipn_topic_arns"]


def test_the_emulator_certificate_is_trusted_only_in_sandbox_against_the_emulator():
    assert _settings(ipn_trusted_certificate_url=CERT).trusted_certificate_url == CERT
    assert trusted_certificate_problem(_settings(ipn_trusted_certificate_url=CERT)) is None
    assert "ipn_trusted_certificate_url" not in validate(_settings(ipn_trusted_certificate_url=CERT))


@pytest.mark.parametrize(
    ("values", "fragment"),
    [
        ({"sandbox": False}, "sandbox"),
        ({"api_base_url": ""}, "API base URL"),
        ({"ipn_trusted_certificate_url": "http://127.0.0.1:9999/_emulator/sns-cert.pem"}, "host"),
        ({"ipn_trusted_certificate_url": "https://127.0.0.1:8765/_emulator/sns-cert.pem"}, "host"),
        ({"ipn_trusted_certificate_url": "http://evil.example.com:8765/sns-cert.pem"}, "host"),
        ({"ipn_trusted_certificate_url": "ftp://127.0.0.1:8765/sns-cert.pem"}, "http(s)"),
        ({"ipn_trusted_certificate_url": "sns-cert.pem"}, "http(s)"),
    ],
)
def test_the_emulator_certificate_is_refused_anywhere_else(values, fragment):
    settings = _settings(**{"ipn_trusted_certificate_url": CERT, **values})
    assert fragment in validate(settings)["ipn_trusted_certificate_url"]
    assert settings.trusted_certificate_url == ""  # and ignored at runtime if stored anyway


def test_the_default_port_counts_as_the_same_origin():
    settings = _settings(api_base_url="http://emulator.test", ipn_trusted_certificate_url="http://emulator.test:80/c.pem")
    assert settings.trusted_certificate_url == "http://emulator.test:80/c.pem"
