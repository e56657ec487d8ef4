"""``patrol-gateway``: run | demo | check-config | decode | doctor."""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import logging
import os
import signal
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

from gateway import __version__
from gateway.config import DEFAULT_CONFIG_PATH, Settings, load_settings
from gateway.errors import ConfigError, GatewayError

log = logging.getLogger("gateway")

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_CONFIG = 2
EXIT_USAGE = 2


def setup_logging(verbose: bool = False) -> None:
    """Log to stderr; under systemd (JOURNAL_STREAM set) leave timestamps to the journal."""
    fmt = "%(levelname)s %(name)s: %(message)s"
    if not os.environ.get("JOURNAL_STREAM"):
        fmt = "%(asctime)s " + fmt
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO, format=fmt, stream=sys.stderr)
    for noisy in ("amqtt", "transitions", "asyncio"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def _load(path: str | None) -> Settings | None:
    """The settings, or None after saying on stderr why they are invalid."""
    try:
        return load_settings(Path(path) if path else None, required=path is not None)
    except ConfigError as exc:
        print(f"patrol-gateway: {exc}", file=sys.stderr)
        return None


async def _run_until_signalled(settings: Settings) -> None:
    from gateway.daemon import Gateway

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await Gateway(settings).run(stop)


def cmd_run(args: argparse.Namespace) -> int:
    setup_logging(args.verbose)
    settings = _load(args.config)
    if settings is None:
        return EXIT_CONFIG
    try:
        asyncio.run(_run_until_signalled(settings))
    except (GatewayError, OSError) as exc:  # cannot start: e.g. the spool's folder is not writable
        print(f"patrol-gateway: cannot start: {exc}", file=sys.stderr)
        return EXIT_FAILURE
    return EXIT_OK


def cmd_check_config(args: argparse.Namespace) -> int:
    settings = _load(args.config)
    if settings is None:
        return EXIT_CONFIG
    print(json.dumps(settings.masked(), indent=2, ensure_ascii=False))
    return EXIT_OK


def _open_input(name: str | None) -> TextIO:
    """The named file, or standard input for None or ``-``; undecodable bytes become U+FFFD, not errors."""
    if name in (None, "-"):
        if isinstance(sys.stdin, io.TextIOWrapper):  # strict under e.g. LANG=en_US.UTF-8
            sys.stdin.reconfigure(encoding="utf-8", errors="replace")
        return sys.stdin
    return open(name, encoding="utf-8", errors="replace")


def cmd_decode(args: argparse.Namespace) -> int:
    from gateway.offline_decode import decode_stream

    try:
        stream = _open_input(args.file)
    except OSError as exc:
        print(f"patrol-gateway: decode: cannot read {args.file}: {exc.strerror}", file=sys.stderr)
        return EXIT_USAGE
    failures = 0
    try:
        for record in decode_stream(args.kind, stream, bits=args.bits, service=args.service):
            failures += "error" in record
            print(json.dumps(record, ensure_ascii=False), flush=True)
    except BrokenPipeError:  # "decode ... | head": the reader has what it wanted
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second error at exit's flush
    finally:
        if stream is not sys.stdin:
            stream.close()
    return EXIT_FAILURE if failures and args.strict else EXIT_OK


def cmd_doctor(args: argparse.Namespace) -> int:
    from gateway.doctor import run_doctor

    setup_logging(args.verbose)
    settings = _load(args.config)
    if settings is None:
        return EXIT_CONFIG
    return asyncio.run(run_doctor(settings))


def cmd_demo(args: argparse.Namespace) -> int:
    from gateway.demo import run_demo

    setup_logging(args.verbose)
    logging.getLogger("gateway").setLevel(logging.DEBUG if args.verbose else logging.WARNING)
    try:
        return asyncio.run(run_demo(args))
    except KeyboardInterrupt:
        return EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="patrol-gateway", description="GNSS receivers and TETRA radios to MQTT for patrol management."
    )
    parser.add_argument("--version", action="version", version=f"patrol-gateway {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    def config_arg(p: argparse.ArgumentParser) -> None:
        p.add_argument("--config", "-c", help=f"TOML configuration file (default {DEFAULT_CONFIG_PATH})")
        p.add_argument("--verbose", "-v", action="store_true", help="debug logging")

    run = sub.add_parser("run", help="run the daemon (systemd Type=notify)")
    config_arg(run)
    run.set_defaults(func=cmd_run)

    check = sub.add_parser("check-config", help="validate and print the effective configuration")
    config_arg(check)
    check.set_defaults(func=cmd_check_config)

    decode = sub.add_parser("decode", help="decode captured NMEA/PEI lines or SDS/LIP hex to JSON lines")
    decode.add_argument("kind", choices=["nmea", "pei", "lip", "sds"])
    decode.add_argument("file", nargs="?", help="input file, or - for standard input (default)")
    decode.add_argument("--bits", type=int, help="declared length in bits for hex input (default: all)")
    decode.add_argument(
        "--service", type=int, default=12, help="AI service for sds hex (12 SDS-4, 13 status)"
    )
    decode.add_argument("--strict", action="store_true", help="exit 1 if any line failed to decode")
    decode.set_defaults(func=cmd_decode)

    doctor = sub.add_parser("doctor", help="probe the configured serial ports and the broker")
    config_arg(doctor)
    doctor.set_defaults(func=cmd_doctor)

    demo = sub.add_parser("demo", help="the whole system with simulated devices and an embedded broker")
    demo.add_argument("--broker", help="use this broker (mqtt://host:port) instead of the embedded one")
    demo.add_argument("--units", type=int, default=8, help="simulated radio fleet size")
    demo.add_argument("--rate", type=float, default=2.0, help="fleet messages per second")
    demo.add_argument("--duration", type=float, default=0, help="stop after this many seconds (0 = Ctrl-C)")
    demo.add_argument("--verbose", "-v", action="store_true", help="debug logging")
    demo.set_defaults(func=cmd_demo)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    one_file_left = len(extra) == 1 and (extra[0] == "-" or not extra[0].startswith("-"))
    if args.command == "decode" and args.file is None and one_file_left:
        # Python 3.11's argparse leaves the optional FILE empty when an option comes before it
        # ("decode sds --service 13 capture.hex"); the file is then the one argument left over.
        args.file = extra[0]
    elif extra:
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    result: int = args.func(args)
    return result


if __name__ == "__main__":
    sys.exit(main())
