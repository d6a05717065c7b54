"""Fault injection, in-process and on real sockets, and how the client copes."""

from __future__ import annotations

import time

import pytest

from saleor_amazonpay.core import (
    NO_RETRIES,
    ChargeState,
    CheckoutSessionState,
    Price,
    RateLimitError,
    ResponseTimeout,
    ServerError,
)
from saleor_amazonpay.emulator import FaultRule

from .conftest import make_client
from .helpers import completed_session, confirmed_session, create_session, reason

USD = lambda amount: Price.of(amount, "USD")  # noqa: E731


def test_fault_rule_validation():
    with pytest.raises(ValueError):
        FaultRule("explode")
    with pytest.raises(ValueError):
        FaultRule.from_dict({"fault": "500", "operation": "MakeCoffee"})
    with pytest.raises(ValueError):
        FaultRule("500", count=0)


def test_retry_on_429_and_503_reaches_success_with_one_object(emulator_app, client):
    emulator_app.add_fault("429", "CreateCheckoutSession")
    emulator_app.add_fault("503", "CreateCheckoutSession")
    records = []
    client.observers.append(records.append)
    session = create_session(client)
    assert session.state is CheckoutSessionState.OPEN
    assert len(emulator_app.store.checkout_sessions) == 1
    assert [r.status for r in records] == [429, 503, 201]
    assert len({r.idempotency_key for r in records}) == 1 and records[0].idempotency_key
    log = [(r.operation, r.status, r.fault) for r in emulator_app.request_log()]
    assert log == [("CreateCheckoutSession", 429, "429"), ("CreateCheckoutSession", 503, "503"),
                   ("CreateCheckoutSession", 201, None)]


@pytest.mark.parametrize("fault, error", [("429", RateLimitError), ("500", ServerError), ("503", ServerError)])
def test_error_faults_change_nothing(emulator_app, config, fault, error):
    client = make_client(emulator_app, config, retry=NO_RETRIES)
    emulator_app.add_fault(fault, "CreateCheckoutSession")
    with pytest.raises(error) as info:
        create_session(client)
    assert info.value.http_status == int(fault)
    assert not emulator_app.store.checkout_sessions


def test_count_and_operation_matching(emulator_app, config):
    client = make_client(emulator_app, config, retry=NO_RETRIES)
    emulator_app.add_fault("500", "GetCheckoutSession", count=2)
    session = create_session(client)  # another operation: unaffected
    for _ in range(2):
        with pytest.raises(ServerError):
            client.get_checkout_session(session.checkout_session_id)
    assert client.get_checkout_session(session.checkout_session_id)
    assert emulator_app.faults.rules == []


def test_wildcard_fault(emulator_app, config):
    client = make_client(emulator_app, config, retry=NO_RETRIES)
    emulator_app.add_fault("503", "*")
    with pytest.raises(ServerError):
        create_session(client)


def test_drop_response_on_create_charge_then_retry_replays(emulator_app, client):
    cp = completed_session(emulator_app, client, intent="Confirm").charge_permission_id
    emulator_app.add_fault("drop-response", "CreateCharge")
    records = []
    client.observers.append(records.append)
    charge = client.create_charge(cp, USD("10.00"), idempotency_key="dropkey1")
    assert [r.error for r in records] == ["ResponseTimeout", None]
    assert len(emulator_app.store.charge_permissions[cp].charge_ids) == 1
    assert emulator_app.store.charge_permissions[cp].charge_ids == [charge.charge_id]
    last = emulator_app.request_log()[-1]
    assert last.replayed and last.idempotency_key == "dropkey1"


def test_drop_response_on_complete_commits_but_the_client_times_out(emulator_app, client):
    session_id = confirmed_session(emulator_app, client)
    emulator_app.add_fault("drop-response", "CompleteCheckoutSession")
    with pytest.raises(ResponseTimeout):
        client.complete_checkout_session(session_id, USD("100.00"))
    session = client.get_checkout_session(session_id)
    assert session.state is CheckoutSessionState.COMPLETED and session.charge_id
    assert client.get_charge(session.charge_id).state is ChargeState.AUTHORIZED


def test_connection_reset_processes_nothing(emulator_app, client):
    session_id = confirmed_session(emulator_app, client)
    emulator_app.add_fault("connection-reset", "CompleteCheckoutSession")
    with pytest.raises(ResponseTimeout):
        client.complete_checkout_session(session_id, USD("100.00"))
    assert client.get_checkout_session(session_id).state is CheckoutSessionState.OPEN
    assert not emulator_app.store.charge_permissions
    assert client.complete_checkout_session(session_id, USD("100.00")).state is CheckoutSessionState.COMPLETED


def test_connection_reset_on_idempotent_write_is_retried(emulator_app, client):
    emulator_app.add_fault("connection-reset", "CreateCheckoutSession")
    create_session(client)
    assert len(emulator_app.store.checkout_sessions) == 1


def test_latency_then_normal_processing(emulator_app, client):
    emulator_app.add_fault("latency", "CreateCheckoutSession", latency=0.2)
    started = time.monotonic()
    create_session(client)
    assert time.monotonic() - started >= 0.2


def test_fault_header(emulator_app, raw):
    body = {"storeId": raw.config.store_id, "webCheckoutDetails": {"checkoutReviewReturnUrl": "https://s.test/r"}}
    response = raw.send("POST", "/checkoutSessions", body, idempotency_key="h1",
                        unsigned_extra={"x-emulator-fault": "503"})
    assert reason(response) == (503, "ServiceUnavailable")
    started = time.monotonic()
    response = raw.send("POST", "/checkoutSessions", body, idempotency_key="h1",
                        unsigned_extra={"x-emulator-fault": "latency;latency=0.15"})
    assert response.status == 201 and time.monotonic() - started >= 0.15
    response = raw.send("POST", "/checkoutSessions", body, idempotency_key="h2",
                        unsigned_extra={"x-emulator-fault": "bogus"})
    assert reason(response) == (400, "InvalidHeaderValue")


def test_fault_header_network_faults_in_process(emulator_app, raw):
    from saleor_amazonpay.emulator.wire import Request

    def request(fault):
        return Request("GET", "/v2/checkoutSessions/x", "", {"host": "pay-api.test", "x-emulator-fault": fault}, b"")

    reset = emulator_app.handle(request("connection-reset"))
    assert reset.header("x-emulator-fault") == "connection-reset" and reset.header("x-amz-pay-request-id")
    dropped = emulator_app.handle(request("drop-response"))
    assert dropped.header("x-emulator-fault") == "drop-response"
    assert dropped.json()["reasonCode"] == "MissingHeaderValue"  # processed: auth ran


def test_fault_rules_precede_authentication(emulator_app, browser):
    emulator_app.add_fault("500")
    response = browser.get("/v2/checkoutSessions/x")
    assert response.status == 500 and response.json()["reasonCode"] == "InternalServerError"


# -- on real sockets --------------------------------------------------------------------------


def test_server_connection_reset(server, server_client):
    session = create_session(server_client)
    server.app.add_fault("connection-reset", "GetCheckoutSession", count=4)
    with pytest.raises(ResponseTimeout) as info:
        server_client.get_checkout_session(session.checkout_session_id)
    assert "Connection" in str(info.value) or info.value.__cause__ is not None


def test_server_drop_response_on_complete(server, server_client):
    session_id = confirmed_session(server.app, server_client)
    server.app.add_fault("drop-response", "CompleteCheckoutSession")
    with pytest.raises(ResponseTimeout):
        server_client.complete_checkout_session(session_id, USD("100.00"))
    assert server_client.get_checkout_session(session_id).state is CheckoutSessionState.COMPLETED


def test_server_drop_response_on_create_charge_is_replayed(server, server_client):
    cp = completed_session(server.app, server_client, intent="Confirm").charge_permission_id
    server.app.add_fault("drop-response", "CreateCharge")
    charge = server_client.create_charge(cp, USD("10.00"), idempotency_key="srvdrop1")
    assert server.app.store.charge_permissions[cp].charge_ids == [charge.charge_id]


def test_server_retry_after_503(server, server_client):
    server.app.add_fault("503", "CreateCheckoutSession")
    create_session(server_client)
    assert len(server.app.store.checkout_sessions) == 1


def test_server_latency_beyond_read_timeout(server, server_merchant):
    from saleor_amazonpay.core import (
        AmazonPayClient,
        AmazonPayConfig,
        RequestsTransport,
        Timeouts,
    )

    config = AmazonPayConfig(**dict(server_merchant.config_kwargs, timeouts=Timeouts(connect=2, read=0.2)))
    client = AmazonPayClient(config, transport=RequestsTransport(), retry=NO_RETRIES)
    server.app.add_fault("latency", "CreateCheckoutSession", latency=0.6)
    with pytest.raises(ResponseTimeout):
        create_session(client)
    time.sleep(0.6)  # the server finished processing after the client gave up
    assert len(server.app.store.checkout_sessions) == 1
