"""``saleor-amazonpay``: keys, the Amazon Pay emulator, the demo, button signing and API look-ups.

::

    saleor-amazonpay keys generate [--out DIR] [--env sandbox|live] [--legacy] [--region na|eu|uk|jp]
                                   [--merchant-id ID --store-id ID] [--force]
    saleor-amazonpay emulator [--host 127.0.0.1] [--port 8765] [--merchants FILE] [--public-url URL]
                              [--carrier-list CSV] [--test-merchant] [--ipn-url URL]
    saleor-amazonpay demo [--port 0] [--intent Authorize|AuthorizeWithCapture|Confirm] [--instrument 1111] [--quiet]
    saleor-amazonpay demo --storefront --api-url URL --channel SLUG [--port 8766] [--direct]
    saleor-amazonpay sign-button --payload '<json>'
    saleor-amazonpay api get-checkout-session|get-charge|get-charge-permission|get-refund ID

Exit codes: 0 success, 1 Amazon Pay answered with an error (or could not be reached),
2 configuration or usage error. The private key is never printed.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import sys
import tempfile
from pathlib import Path
from typing import Any, Callable, Sequence

from . import __version__
from .core import (
    AmazonPayClient,
    AmazonPayConfig,
    AmazonPayError,
    CallRecord,
    ConfigError,
)
from .core.constants import REGION_ALIASES

PROG = "saleor-amazonpay"
_ID_RE = re.compile(r"^[A-Za-z0-9-]{1,128}$")

_API_COMMANDS = {
    # command: (client method, what the id is)
    "get-checkout-session": ("get_checkout_session", "checkout session id"),
    "get-charge": ("get_charge", "charge id"),
    "get-charge-permission": ("get_charge_permission", "charge permission id"),
    "get-refund": ("get_refund", "refund id"),
}

_ENV_HELP = """\
configuration comes from environment variables:
  AMAZONPAY_MERCHANT_ID, AMAZONPAY_STORE_ID, AMAZONPAY_PUBLIC_KEY_ID (required)
  AMAZONPAY_PRIVATE_KEY_PATH (or AMAZONPAY_PRIVATE_KEY with the PEM text), AMAZONPAY_PRIVATE_KEY_PASSPHRASE
  AMAZONPAY_REGION (na, eu, uk, jp; default na), AMAZONPAY_SANDBOX (default true),
  AMAZONPAY_ALGORITHM (default AMZN-PAY-RSASSA-PSS-V2), AMAZONPAY_BASE_URL (e.g. the emulator's URL)
"""


def _print(*args: Any, **kwargs: Any) -> None:
    print(*args, **kwargs)


def _err(message: str) -> None:
    print(f"{PROG}: {message}", file=sys.stderr)


# -- files --------------------------------------------------------------------------------


def _write_file(path: Path, text: str, *, mode: int, force: bool) -> None:
    """Write ``text`` with permissions ``mode`` from the first byte (no window where a
    private key is world-readable); refuse to replace a file unless ``force``."""
    flags = os.O_WRONLY | os.O_CREAT | (os.O_TRUNC if force else os.O_EXCL)
    try:
        fd = os.open(path, flags, mode)
    except FileExistsError:
        raise ConfigError(f"{path} already exists; use --force to overwrite it") from None
    except OSError as exc:
        raise ConfigError(f"cannot write {path}: {exc.strerror}") from None
    try:
        os.fchmod(fd, mode)  # O_CREAT's mode is filtered by the umask; an existing file keeps its own
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            fd = -1
            handle.write(text)
    finally:
        if fd != -1:
            os.close(fd)


def _region(value: str) -> str:
    key = str(value).strip().lower()
    if key not in REGION_ALIASES:
        raise argparse.ArgumentTypeError(f"unknown region {value!r} (use na, eu, uk or jp)")
    return key


# -- keys generate --------------------------------------------------------------------------


def cmd_keys_generate(args: argparse.Namespace) -> int:
    from .emulator import generate_key_pair, new_public_key_id
    from .emulator.ids import new_merchant_id, new_store_id

    if bool(args.merchant_id) != bool(args.store_id):
        raise ConfigError("--merchant-id and --store-id go together (give both, or neither to generate test ids)")
    out = Path(args.out).expanduser()
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"cannot create {out}: {exc.strerror}") from None
    private_path, public_path, merchants_path = out / "private.pem", out / "public.pem", out / "merchants.json"
    if not args.force:
        for path in (private_path, public_path, merchants_path):
            if path.exists():
                raise ConfigError(f"{path} already exists; use --force to overwrite it")

    key_id = new_public_key_id(None if args.legacy else args.env)
    merchant_id = args.merchant_id or new_merchant_id()
    store_id = args.store_id or new_store_id()
    generated_ids = not args.merchant_id
    entry: dict[str, Any] = {
        "merchantId": merchant_id,
        "storeId": store_id,
        "publicKeyId": key_id,
        "publicKeyPath": "public.pem",
        "region": args.region,
    }
    if args.legacy:
        # A legacy id works in both environments; say which one this key is meant for.
        entry["environments"] = [args.env]

    private_pem, public_pem = generate_key_pair()
    _write_file(private_path, private_pem, mode=0o600, force=args.force)
    del private_pem
    _write_file(public_path, public_pem, mode=0o644, force=args.force)
    _write_file(merchants_path, json.dumps({"merchants": [entry]}, indent=2) + "\n", mode=0o644, force=args.force)

    _print(f"Wrote {private_path} (RSA 2048, mode 0600: keep it secret, it is never printed)")
    _print(f"Wrote {public_path}")
    _print(f"Wrote {merchants_path}{' (test merchant and store ids generated)' if generated_ids else ''}")
    _print("")
    _print(f"Public key id: {key_id}")
    _print("")
    _print("Merchants file entry for the emulator (publicKeyPath is relative to merchants.json):")
    _print(json.dumps(entry, indent=2))
    _print("")
    _print("Run the emulator with it:")
    _print(f"  {PROG} emulator --merchants {merchants_path}")
    _print("Client configuration (sign-button, api):")
    for name, value in (("MERCHANT_ID", merchant_id), ("STORE_ID", store_id), ("PUBLIC_KEY_ID", key_id),
                        ("PRIVATE_KEY_PATH", str(private_path.resolve())),
                        ("REGION", args.region), ("SANDBOX", "true" if args.env == "sandbox" else "false"),
                        ("BASE_URL", "http://127.0.0.1:8765")):
        _print(f"  export AMAZONPAY_{name}={value}")
    _print("")
    _print("For the real Amazon Pay: upload public.pem in Seller Central (Integration Central); Amazon then")
    _print("assigns the public key id to use. The id printed above is for the emulator only.")
    return 0


# -- emulator ---------------------------------------------------------------------------------


def _plugin_config_lines(config: dict, api_base_url: str, key_path: Path) -> "list[str]":
    rows = [
        ("Merchant ID", config["merchant_id"]),
        ("Store ID", config["store_id"]),
        ("Public key ID", config["public_key_id"]),
        ("Private key", f"paste the contents of {key_path}"),
        ("Region", config["region"]),
        ("Sandbox mode", "true" if config["sandbox"] else "false"),
        ("API base URL override", api_base_url),
    ]
    return [f"  {label:<23} {value}" for label, value in rows]


def _raise_interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def _stop_on_sigterm() -> Any:
    """``docker stop`` / ``kill`` end the emulator like Ctrl-C does (cleanly); returns the
    previous handler, or None when handlers cannot be set (not the main thread)."""
    try:
        return signal.signal(signal.SIGTERM, _raise_interrupt)
    except ValueError:
        return None


def cmd_emulator(args: argparse.Namespace) -> int:
    from .emulator import MerchantRegistry, serve

    registry = MerchantRegistry()
    if args.merchants:
        try:
            registry = MerchantRegistry.from_file(args.merchants)
        except FileNotFoundError:
            raise ConfigError(f"merchants file {args.merchants} not found") from None
        except (OSError, ValueError) as exc:  # JSONDecodeError is a ValueError
            raise ConfigError(f"merchants file {args.merchants}: {exc}") from None
    if args.carrier_list and not Path(args.carrier_list).expanduser().is_file():
        raise ConfigError(f"carrier list {args.carrier_list} not found")
    if args.port < 0 or args.port > 65535:
        raise ConfigError(f"invalid port {args.port}")
    test_merchant = args.test_merchant or not args.merchants
    key_out = Path(args.key_out).expanduser() if args.key_out else None
    if test_merchant and key_out is not None and key_out.exists() and not args.force:
        raise ConfigError(f"{key_out} already exists; use --force to overwrite it")
    if args.host not in ("127.0.0.1", "localhost", "::1"):
        _err(f"warning: listening on {args.host}: the emulator accepts any test merchant's calls "
             "and is not meant to be reachable from other machines")

    def on_ready(emulator: Any) -> None:
        if args.ipn_url:
            emulator.app.set_ipn_url(args.ipn_url)
        for merchant in emulator.registry.merchants:
            _print(f"Merchant {merchant.merchant_id} ({merchant.region}): stores {', '.join(merchant.store_ids)}; "
                   f"keys {', '.join(sorted(merchant.keys))}")
        if not test_merchant:
            return
        config, private_pem = emulator.make_test_merchant(args.test_env, args.test_region)
        path = key_out
        if path is None:
            folder = Path(tempfile.mkdtemp(prefix="saleor-amazonpay-emulator-"))
            path = folder / f"{config['merchant_id']}-private.pem"
        path.parent.mkdir(parents=True, exist_ok=True)
        _write_file(path, private_pem, mode=0o600, force=True)
        del private_pem
        browser_url = emulator.app.public_url or emulator.url
        _print("")
        _print(f"Test merchant registered ({args.test_env}, region {config['region']}).")
        _print(f"Private key written to {path} (mode 0600; never printed).")
        _print("Saleor dashboard > Configuration > Plugins > Amazon Pay (per channel):")
        for line in _plugin_config_lines(config, emulator.url, path):
            _print(line)
        _print("Storefront button script (instead of Amazon's checkout.js):")
        _print(f"  {browser_url}/_emulator/checkout.js")
        _print("CLI configuration (sign-button, api):")
        for name, value in (("MERCHANT_ID", config["merchant_id"]), ("STORE_ID", config["store_id"]),
                            ("PUBLIC_KEY_ID", config["public_key_id"]), ("PRIVATE_KEY_PATH", str(path)),
                            ("REGION", config["region"]), ("SANDBOX", "true" if config["sandbox"] else "false"),
                            ("BASE_URL", emulator.url)):
            _print(f"  export AMAZONPAY_{name}={value}")
        _print("")
        sys.stdout.flush()

    app_kwargs: dict[str, Any] = {}
    if args.carrier_list:
        app_kwargs["carrier_codes"] = str(Path(args.carrier_list).expanduser())
    previous = _stop_on_sigterm()
    try:
        serve(args.host, args.port, registry, public_url=args.public_url, quiet=args.quiet,
              announce=lambda line: (_print(line), sys.stdout.flush()), on_ready=on_ready, **app_kwargs)
    except OSError as exc:
        raise ConfigError(f"cannot listen on {args.host}:{args.port}: {exc.strerror or exc}") from None
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
    return 0


# -- demo ---------------------------------------------------------------------------------------


def cmd_storefront(args: argparse.Namespace) -> int:
    """``demo --storefront``: serve the demo storefront page against a Saleor API."""
    from .storefront import DEFAULT_PORT, serve

    if not args.api_url or not args.channel:
        raise ConfigError("--storefront needs --api-url (Saleor's GraphQL URL) and --channel (a channel slug)")
    port = args.port or DEFAULT_PORT  # the return URLs are configured in Saleor: a stable default port
    if port < 0 or port > 65535:
        raise ConfigError(f"invalid port {port}")
    previous = _stop_on_sigterm()
    try:
        serve(args.api_url, args.channel, port=port, proxy=not args.direct, quiet=args.quiet,
              announce=_print)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    except OSError as exc:
        raise ConfigError(f"cannot listen on 127.0.0.1:{port}: {exc.strerror or exc}") from None
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from .demo import result_json, run_demo

    if args.storefront:
        return cmd_storefront(args)
    if args.api_url or args.channel or args.direct:
        raise ConfigError("--api-url, --channel and --direct go with --storefront")
    try:
        result = run_demo(out=_print, intent=args.intent, instrument=args.instrument, port=args.port,
                          region=args.region, quiet=args.quiet)
    except OSError as exc:
        raise ConfigError(f"cannot start the emulator on port {args.port}: {exc.strerror or exc}") from None
    except (KeyError, ValueError) as exc:
        raise ConfigError(str(exc.args[0] if exc.args else exc)) from None
    if args.json:
        _print(result_json(result))
    elif result.ok:
        _print(f"\nDemo finished in {result.duration:.2f} s.")
    else:
        _print(f"\nDemo failed at step {result.failed_step}: reasonCode {result.reason_code or 'n/a'}")
    return result.exit_code


# -- sign-button --------------------------------------------------------------------------------


_ENV_NAMES = {"merchant_id": "MERCHANT_ID", "store_id": "STORE_ID", "public_key_id": "PUBLIC_KEY_ID",
              "private_key": "PRIVATE_KEY_PATH", "region": "REGION", "algorithm": "ALGORITHM",
              "base_url": "BASE_URL"}


def _config_from_env() -> AmazonPayConfig:
    """AmazonPayConfig.from_env(), with errors that name the environment variable."""
    try:
        return AmazonPayConfig.from_env().validate()
    except ConfigError as error:
        name = _ENV_NAMES.get(error.field or "")
        if name is None:
            raise
        variable = "AMAZONPAY_PRIVATE_KEY_PATH or AMAZONPAY_PRIVATE_KEY" if name == "PRIVATE_KEY_PATH" \
            else f"AMAZONPAY_{name}"
        message = f"{variable} is not set" if error.message.endswith("is required") else \
            f"{variable}: {error.message}"
        raise ConfigError(message, field=error.field) from None


def _read_payload(value: str) -> dict:
    if value == "-":
        text = sys.stdin.read()
    elif value.startswith("@"):
        try:
            text = Path(value[1:]).expanduser().read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"cannot read {value[1:]}: {exc.strerror}") from None
    else:
        text = value
    try:
        payload = json.loads(text)
    except ValueError as exc:
        raise ConfigError(f"--payload is not valid JSON: {exc}") from None
    if not isinstance(payload, dict):
        raise ConfigError("--payload must be a JSON object (the Create Checkout Session payload)")
    return payload


def cmd_sign_button(args: argparse.Namespace) -> int:
    payload = _read_payload(args.payload)
    config = _config_from_env()
    if not payload.get("storeId"):
        payload["storeId"] = config.store_id
        _err("note: storeId added from AMAZONPAY_STORE_ID")
    elif payload["storeId"] != config.store_id:
        _err(f"warning: the payload's storeId differs from AMAZONPAY_STORE_ID ({config.store_id})")
    client = AmazonPayClient(config)
    signed = client.generate_button_signature(payload)
    _print(json.dumps(signed.as_button_config(), indent=None if args.compact else 2, ensure_ascii=False))
    return 0


# -- api ------------------------------------------------------------------------------------------


def cmd_api(args: argparse.Namespace) -> int:
    method, what = _API_COMMANDS[args.api_command]
    if not _ID_RE.fullmatch(args.id):
        raise ConfigError(f"{args.id!r} is not a valid {what}")
    config = _config_from_env()
    records: "list[CallRecord]" = []
    client = AmazonPayClient(config, observers=[records.append])
    try:
        model = getattr(client, method)(args.id)
    finally:
        for record in records:
            if record.request_id:
                _err(f"{record.method} {record.path} -> {record.status} "
                     f"(x-amz-pay-request-id {record.request_id})")
    _print(json.dumps(dict(model.raw), indent=2, ensure_ascii=False))
    return 0


# -- parser ---------------------------------------------------------------------------------------


class _Parser(argparse.ArgumentParser):
    """Usage errors go to stderr with exit code 2, as argparse does; main() returns it."""


def build_parser() -> argparse.ArgumentParser:
    from .demo import INTENTS, REGIONS
    from .emulator import INSTRUMENTS

    parser = _Parser(prog=PROG, description="Amazon Pay (Checkout v2) for Saleor: keys, emulator, demo, tools.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    # keys
    keys = commands.add_parser("keys", help="merchant key pairs")
    key_commands = keys.add_subparsers(dest="keys_command", metavar="COMMAND")
    generate = key_commands.add_parser(
        "generate", help="write private.pem (0600), public.pem and merchants.json",
        description="Generate an RSA 2048 key pair for Amazon Pay API signing, a public key id and a "
                    "merchants.json entry for the emulator.")
    generate.add_argument("--out", default=".", metavar="DIR", help="folder to write into (default: .)")
    generate.add_argument("--env", choices=("sandbox", "live"), default="sandbox",
                          help="environment of the key id: SANDBOX-… or LIVE-… (default sandbox)")
    generate.add_argument("--legacy", action="store_true",
                          help="a legacy 24-character key id (paths /sandbox/v2 and /live/v2)")
    generate.add_argument("--region", type=_region, default="na", help="na, eu, uk or jp (default na)")
    generate.add_argument("--merchant-id", metavar="ID", help="merchant id for merchants.json (default: generated)")
    generate.add_argument("--store-id", metavar="ID", help="store id for merchants.json (default: generated)")
    generate.add_argument("--force", action="store_true", help="overwrite existing files")
    generate.set_defaults(handler=cmd_keys_generate)
    keys.set_defaults(handler=lambda args: _missing_subcommand(keys))

    # emulator
    emulator = commands.add_parser(
        "emulator", help="run the Amazon Pay API emulator in the foreground",
        description="Run the stateful Amazon Pay API v2 emulator until Ctrl-C. Without --merchants (or with "
                    "--test-merchant) it registers a test merchant and prints its plugin configuration.")
    emulator.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    emulator.add_argument("--port", type=int, default=8765, help="port (default 8765; 0 picks a free one)")
    emulator.add_argument("--merchants", metavar="FILE", help="merchants JSON file (see keys generate)")
    emulator.add_argument("--public-url", metavar="URL",
                          help="where browsers reach the emulator, if not at the address the shop uses")
    emulator.add_argument("--carrier-list", metavar="CSV",
                          help="Amazon's carrier list CSV: reject delivery trackers with unknown carrier codes")
    emulator.add_argument("--test-merchant", action="store_true",
                          help="also register a fresh test merchant (implied without --merchants)")
    emulator.add_argument("--test-env", choices=("sandbox", "live"), default="sandbox",
                          help="environment of the test merchant's key (default sandbox)")
    emulator.add_argument("--test-region", type=_region, default="na", help="region of the test merchant")
    emulator.add_argument("--key-out", metavar="FILE",
                          help="where to write the test merchant's private key (default: a new temp folder)")
    emulator.add_argument("--force", action="store_true", help="overwrite --key-out if it exists")
    emulator.add_argument("--ipn-url", metavar="URL",
                          help="default IPN endpoint (merchants' own ipnUrl wins), e.g. Saleor's plugin webhook")
    emulator.add_argument("--quiet", action="store_true", help="do not log requests")
    emulator.set_defaults(handler=cmd_emulator)

    # demo
    demo = commands.add_parser(
        "demo", help="one complete checkout against an in-process emulator, with a transcript",
        description="Start the emulator on a free loopback port and walk one buyer through a complete "
                    "Amazon Pay checkout with the real client: button, sign-in, review, Complete, capture, "
                    "refund, delivery tracker.")
    demo.add_argument("--port", type=int, default=0, help="emulator port (default 0: a free port)")
    demo.add_argument("--intent", choices=INTENTS, default="Authorize", help="paymentIntent (default Authorize)")
    demo.add_argument("--instrument", choices=list(INSTRUMENTS), default="1111",
                      help="the buyer's test card: " + "; ".join(i.label for i in INSTRUMENTS.values()))
    demo.add_argument("--region", choices=list(REGIONS), default="na", help="merchant region (default na)")
    demo.add_argument("--quiet", action="store_true", help="print only the summary")
    demo.add_argument("--json", action="store_true", help="print the result as JSON after the transcript")
    demo.add_argument("--storefront", action="store_true",
                      help="serve the demo storefront page (products, checkout, Amazon Pay button, order) for a "
                           "running Saleor instead; --port is then the storefront's port (default 8766)")
    demo.add_argument("--api-url", metavar="URL", help="with --storefront: Saleor's GraphQL URL, e.g. "
                                                       "http://127.0.0.1:8000/graphql/")
    demo.add_argument("--channel", metavar="SLUG", help="with --storefront: the Saleor channel slug")
    demo.add_argument("--direct", action="store_true",
                      help="with --storefront: the browser calls --api-url itself (needs Saleor's CORS) instead of "
                           "through the storefront's server")
    demo.set_defaults(handler=cmd_demo)

    # sign-button
    sign = commands.add_parser(
        "sign-button", help="sign a button payload: print createCheckoutSessionConfig",
        formatter_class=argparse.RawDescriptionHelpFormatter, epilog=_ENV_HELP,
        description="Sign a Create Checkout Session payload for amazon.Pay.renderButton and print "
                    "createCheckoutSessionConfig {payloadJSON, signature, publicKeyId, algorithm}.")
    sign.add_argument("--payload", required=True, metavar="JSON",
                      help="the payload as JSON, @FILE, or - for stdin; storeId defaults to AMAZONPAY_STORE_ID")
    sign.add_argument("--compact", action="store_true", help="one line of JSON")
    sign.set_defaults(handler=cmd_sign_button)

    # api
    api = commands.add_parser("api", help="read Amazon Pay objects (raw JSON), for support",
                              formatter_class=argparse.RawDescriptionHelpFormatter, epilog=_ENV_HELP)
    api_commands = api.add_subparsers(dest="api_command", metavar="COMMAND")
    for name, (_method, what) in _API_COMMANDS.items():
        sub = api_commands.add_parser(name, help=f"print the object with this {what}",
                                      formatter_class=argparse.RawDescriptionHelpFormatter, epilog=_ENV_HELP)
        sub.add_argument("id", metavar="ID", help=what)
        sub.set_defaults(handler=cmd_api)
    api.set_defaults(handler=lambda args: _missing_subcommand(api))
    return parser


def _missing_subcommand(parser: argparse.ArgumentParser) -> int:
    parser.print_usage(sys.stderr)
    _err("a command is required (see --help)")
    return 2


def main(argv: "Sequence[str] | None" = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version, usage errors
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 2)
    handler: "Callable[[argparse.Namespace], int] | None" = getattr(args, "handler", None)
    if handler is None:
        parser.print_help(sys.stderr)
        return 2
    try:
        return int(handler(args) or 0)
    except ConfigError as error:
        where = f" ({error.field})" if getattr(error, "field", None) else ""
        _err(f"configuration error{where}: {error.message}")
        return 2
    except AmazonPayError as error:
        details = ", ".join(part for part in (
            f"HTTP {error.http_status}" if error.http_status else "",
            f"x-amz-pay-request-id {error.request_id}" if error.request_id else "") if part)
        _err(f"Amazon Pay error: {error.reason_code or type(error).__name__}: {error.message}"
             + (f" ({details})" if details else ""))
        return 1
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # stdout closed early (| head): not an error worth a traceback.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 1


if __name__ == "__main__":
    sys.exit(main())
