"""Carrier codes for Amazon's Delivery Tracker: detection table and precedence (no Saleor)."""

from __future__ import annotations

import pytest

from saleor_amazonpay.core.carriers import (
    CARRIER_CODE_RE,
    KNOWN_CARRIERS,
    S10_POSTS,
    choose_carrier,
    detect_carrier,
    fedex12_valid,
    mod7_valid,
    mod10_31_valid,
    normalize_tracking_number,
    s10_valid,
    ups_valid,
    usps_impb,
)
from saleor_amazonpay.plugin.settings import ChannelSettings, parse_carrier_mapping

pytestmark = pytest.mark.unit


def _flip_check_digit(number: str, position: int = -1) -> str:
    digit = number[position]
    replacement = str((int(digit) + 1) % 10)
    index = position % len(number)
    return number[:index] + replacement + number[index + 1:]


def _s10(body: str, country: str, prefix: str = "RR") -> str:
    """Build a valid UPU S10 number by trying every check digit."""
    for check in "0123456789":
        number = f"{prefix}{body}{check}{country}"
        if s10_valid(number):
            return number
    raise AssertionError("no check digit fits")


# -- UPS 1Z ----------------------------------------------------------------------------------

UPS_VALID = ["1Z5R89390357567127", "1Z879E930346834440", "1Z410E7W0392751591", "1Z8V92A70367203024",
             "1Z999AA10123456784"]


@pytest.mark.parametrize("number", UPS_VALID)
@pytest.mark.parametrize("country", [None, "US", "DE", "JP"])
def test_ups_1z_with_a_valid_check_digit_is_ups_everywhere(number, country):
    assert ups_valid(number)
    assert detect_carrier(number, country) == "UPS"


@pytest.mark.parametrize("number", UPS_VALID)
def test_ups_1z_with_a_wrong_check_digit_is_not_detected(number):
    wrong = _flip_check_digit(number)
    assert not ups_valid(wrong)
    assert detect_carrier(wrong, "US") is None


@pytest.mark.parametrize("number", ["1Z1111111111111111", "2Z5R89390357567127", "1A5R89390357567127",
                                    "1Z5R8939035756712", "1Z5R89390357567127X", "1Z5R8939035756712A"])
def test_malformed_ups_numbers(number):
    assert not ups_valid(number)


def test_tracking_numbers_are_normalized_before_detection():
    assert normalize_tracking_number(" 1z5r 8939-0357 5671 27 ") == "1Z5R89390357567127"
    assert detect_carrier("1z5r 8939-0357 5671 27") == "UPS"
    assert detect_carrier("") is None and detect_carrier("   ") is None


# -- FedEx -------------------------------------------------------------------------------------

FEDEX12_VALID = ["986578788855", "477179081230", "799531274483", "790535312317", "974367662710"]


@pytest.mark.parametrize("number", FEDEX12_VALID)
def test_fedex_12_digits_with_a_valid_check_digit(number):
    assert fedex12_valid(number)
    assert detect_carrier(number, "US") == "FEDEX"
    assert detect_carrier(number, "CA") == "FEDEX"


@pytest.mark.parametrize("number", FEDEX12_VALID + ["996578788855"])
def test_fedex_12_digits_with_a_wrong_check_digit(number):
    wrong = number if number == "996578788855" else _flip_check_digit(number)
    assert not fedex12_valid(wrong)
    assert detect_carrier(wrong, "US") is None


def test_fedex_formats_are_only_trusted_for_north_american_destinations():
    # 12 digits are too common a shape to guess FedEx without the destination.
    assert detect_carrier("986578788855", None) is None
    assert detect_carrier("986578788855", "GB") is None
    # 15-digit ground and 22-digit "96" numbers.
    assert detect_carrier("123456789012345", "US") == "FEDEX"
    assert detect_carrier("123456789012345", "GB") is None
    assert detect_carrier("9611020987654312345672", "MX") == "FEDEX"


# -- DHL Express -------------------------------------------------------------------------------

DHL_VALID = ["3318810025", "8487135506", "1099255990", "3821724944", "3318810036", "3318810014"]
DHL_INVALID = ["3318810010", "3318810034", "3318810011"]


@pytest.mark.parametrize("number", DHL_VALID)
@pytest.mark.parametrize("country", [None, "US", "DE", "GB"])
def test_dhl_express_10_digits_mod7(number, country):
    assert mod7_valid(number)
    assert detect_carrier(number, country) == "DHL"


@pytest.mark.parametrize("number", DHL_INVALID)
def test_dhl_express_with_a_wrong_check_digit(number):
    assert not mod7_valid(number)
    assert detect_carrier(number, "DE") is None


def test_dhl_piece_ids():
    assert detect_carrier("JJD0099999999") == "DHL"
    assert detect_carrier("XJD0099999999") is None


# -- UPU S10 (international post) --------------------------------------------------------------


def test_s10_check_digit_computation():
    # weights 8 6 4 2 3 5 9 7; check = 11 - sum mod 11, with 10 -> 0 and 11 -> 5
    assert s10_valid("RR123456785DE")            # sum 204, 204 % 11 = 6 -> 5
    assert not s10_valid("RR123456784DE")
    assert not s10_valid("RR12345678DE")
    assert not s10_valid("R1123456785DE")


def test_s10_check_digit_special_cases():
    # 00000008: sum 56, 56 % 11 = 1 -> 11 - 1 = 10 -> check digit 0
    assert s10_valid("EE000000080US") and not s10_valid("EE000000081US")
    # 00000000: sum 0 -> 11 -> check digit 5
    assert s10_valid("EE000000005US") and not s10_valid("EE000000000US")


@pytest.mark.parametrize(("country", "carrier"), sorted(S10_POSTS.items()))
def test_s10_numbers_go_to_the_issuing_post(country, carrier):
    number = _s10("47312482", country)
    assert detect_carrier(number) == carrier
    # The issuing country decides, not the destination.
    assert detect_carrier(number, "US") == carrier
    assert detect_carrier(number, "JP") == carrier
    assert carrier in KNOWN_CARRIERS


@pytest.mark.parametrize("country", sorted(S10_POSTS))
def test_s10_numbers_with_a_wrong_check_digit_are_not_detected(country):
    number = _s10("47312482", country)
    wrong = _flip_check_digit(number, -3)
    assert not s10_valid(wrong)
    assert detect_carrier(wrong, country) is None


def test_s10_from_a_post_we_do_not_map_is_not_guessed():
    assert detect_carrier(_s10("47312482", "NL")) is None


# -- USPS IMpb ----------------------------------------------------------------------------------

USPS_VALID = ["9400111201080805483016", "9361289878700317633795", "9405803699300124287899",
              "9505511069605048600624", "9101123456789000000013",
              "420221539101026837331000039521",        # 420 + ZIP5 routing prefix
              "4201002334249200190132607600833457"]    # 420 + ZIP+4 routing prefix


@pytest.mark.parametrize("number", USPS_VALID)
def test_usps_impb_with_a_valid_check_digit(number):
    assert usps_impb(number)
    assert detect_carrier(number, "US") == "USPS"


@pytest.mark.parametrize("number", USPS_VALID)
def test_usps_impb_with_a_wrong_check_digit(number):
    wrong = _flip_check_digit(number)
    assert not usps_impb(wrong)
    assert detect_carrier(wrong, "US") is None


@pytest.mark.parametrize("number", ["9200000000000000000000", "9600000000000000000001",
                                    "420000000000000000000000000000", "61299998820821171811"])
def test_not_usps(number):
    assert not usps_impb(number)


def test_mod10_31():
    assert mod10_31_valid("9400111201080805483016")
    assert not mod10_31_valid("9400111201080805483017")
    assert not mod10_31_valid("9") and not mod10_31_valid("94A0")


# -- Japan: Yamato (mod 7), Japan Post -----------------------------------------------------------


def test_yamato_12_digits_mod7_in_japan():
    assert mod7_valid("900000000001")
    assert detect_carrier("900000000001", "JP") == "TAQBIN_JP"
    assert detect_carrier("9000-0000-0001", "JP") == "TAQBIN_JP"


def test_yamato_with_a_wrong_check_digit():
    assert not mod7_valid("900000000002")
    assert detect_carrier("900000000002", "JP") is None


def test_yamato_is_not_guessed_outside_japan():
    assert detect_carrier("900000000001", "US") is None   # not a valid FedEx number either
    assert detect_carrier("900000000001", None) is None


def test_japan_post_11_digits_in_japan_only():
    assert detect_carrier("12345678901", "JP") == "JAPAN_POST"
    assert detect_carrier("12345678901", "US") is None


# -- country tie-breaks -----------------------------------------------------------------------------

# Valid as a FedEx 12-digit number AND as a mod-7 (Yamato) number, and 12 digits (DHL Paket).
LOOKALIKE_12 = "910000001002"


def test_lookalike_12_digits_are_decided_by_the_destination_country():
    assert fedex12_valid(LOOKALIKE_12) and mod7_valid(LOOKALIKE_12)
    assert detect_carrier(LOOKALIKE_12, "US") == "FEDEX"
    assert detect_carrier(LOOKALIKE_12, "JP") == "TAQBIN_JP"
    assert detect_carrier(LOOKALIKE_12, "DE") == "DHL_DE"
    assert detect_carrier(LOOKALIKE_12, "AT") == "DHL_DE"
    assert detect_carrier(LOOKALIKE_12, "FR") is None
    assert detect_carrier(LOOKALIKE_12, None) is None
    assert detect_carrier(LOOKALIKE_12, "us") == "FEDEX"  # country codes are case-insensitive


def test_two_carriers_matching_in_one_country_means_no_guess():
    # 20 digits starting 92 with a valid IMpb check digit: USPS, but also a DHL Paket shape.
    number = "92123456789012345676"
    assert usps_impb(number)
    assert detect_carrier(number, "US") == "USPS"
    assert detect_carrier(number, "DE") is None


def test_deutsche_post_dhl_paket_formats_in_germany():
    assert detect_carrier("00340434161094042557", "DE") == "DHL_DE"
    assert detect_carrier("00340434161094042557", "US") is None


def test_parcelforce_in_great_britain_only():
    assert detect_carrier("AB1234567", "GB") == "PARCEL_FORCE"
    assert detect_carrier("AB1234567", "US") is None


def test_unknown_formats():
    for number in ("HELLO", "123", "https://track.example.com/1Z5R89390357567127", "ABCDEFGHIJKLMNOPQRST"):
        assert detect_carrier(number, "US") is None


def test_every_detectable_code_is_well_formed():
    for code in KNOWN_CARRIERS:
        assert CARRIER_CODE_RE.match(code), code


# -- choose_carrier: metadata > mapping > detection -----------------------------------------------

MAPPING = parse_carrier_mapping("Express = ups\n# comment\n\n42 = FEDEX\nStandard=DHL_DE\n")


def _choose(tracking="3318810025", metadata=None, name="Standard", method_id="42", mapping=MAPPING, country="DE"):
    return choose_carrier(tracking_number=tracking, fulfillment_metadata=metadata, shipping_method_name=name,
                          shipping_method_id=method_id, mapping=mapping, country=country)


def test_mapping_parser():
    assert MAPPING == {"express": "UPS", "42": "FEDEX", "standard": "DHL_DE"}
    assert ChannelSettings.from_items({"carrier_mapping": "Express = ups"}).carriers() == {"express": "UPS"}
    # A broken mapping is refused by validation; at runtime it counts as empty.
    assert ChannelSettings.from_items({"carrier_mapping": "no equals sign"}).carriers() == {}
    with pytest.raises(ValueError):
        parse_carrier_mapping("Express UPS")


def test_metadata_wins_over_mapping_and_detection():
    choice = _choose(metadata={"amazonpay.carrierCode": "royal_mail "})
    assert (choice.carrier_code, choice.source) == ("ROYAL_MAIL", "metadata")


def test_mapping_by_id_wins_over_mapping_by_name_and_detection():
    choice = _choose()
    assert (choice.carrier_code, choice.source, choice.detail) == ("FEDEX", "mapping", "42")


def test_mapping_by_name_is_case_insensitive():
    choice = _choose(name="  EXPRESS ", method_id="7")
    assert (choice.carrier_code, choice.source) == ("UPS", "mapping")


def test_detection_when_nothing_is_configured():
    choice = _choose(name="Pickup", method_id=None)
    assert (choice.carrier_code, choice.source) == ("DHL", "detected")
    choice = _choose(metadata={}, name=None, method_id=None, mapping={})
    assert choice.carrier_code == "DHL"


def test_other_metadata_keys_are_ignored():
    choice = _choose(metadata={"carrierCode": "UPS", "amazonpay.carrierCode": ""}, name=None, method_id=None)
    assert (choice.carrier_code, choice.source) == ("DHL", "detected")


@pytest.mark.parametrize("bad", ["U", "UPS GROUND", "UPS-GROUND", "Royal Mail", "X" * 51, "ÜPS", "UPS;DROP"])
def test_a_bad_explicit_code_is_reported_not_replaced(bad):
    # The merchant said which carrier; guessing another one would be wrong: no code, a reason.
    choice = _choose(metadata={"amazonpay.carrierCode": bad})
    assert choice.carrier_code is None and choice.source == "none"
    assert "amazonpay.carrierCode" in choice.detail and "not a carrier code" in choice.detail


def test_no_match_at_all():
    choice = _choose(tracking="NOT-A-TRACKING-NUMBER", name="Pickup", method_id=None)
    assert choice.carrier_code is None and choice.source == "none"
    assert "matches no carrier" in choice.detail


def test_custom_metadata_key():
    choice = choose_carrier(tracking_number="x", fulfillment_metadata={"carrier": "UPS"}, shipping_method_name=None,
                            shipping_method_id=None, mapping={}, country=None, metadata_key="carrier")
    assert choice.carrier_code == "UPS"
