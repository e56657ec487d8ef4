"""``patrol-sim``: the GNSS receiver and TETRA radio simulators from the command line.

Both subcommands print ``patrol-sim <kind>: ready at <PATH>`` on stdout once the link exists (and again after
every replug; ``... unplugged <PATH>`` when it is pulled), then run until SIGTERM or SIGINT, which remove the
link and exit 0. SIGUSR1 toggles a simulated unplug/replug.
"""

from __future__ import annotations

import argparse
import signal
import sys
from pathlib import Path
from types import FrameType

from gateway.errors import LinkError
from simulators.device import PtyDevice
from simulators.faults import Outage


def _probability(text: str) -> float:
    value = float(text)
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"{text}: a probability must be between 0 and 1")
    return value


def _non_negative(text: str) -> float:
    value = float(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text}: must be >= 0")
    return value


def _outage(args: argparse.Namespace, name: str) -> Outage | None:
    after = getattr(args, f"{name}_after")
    return None if after is None else Outage(after, getattr(args, f"{name}_for"))


def _add_common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--link", type=Path, required=True, help="path to link the pseudo-terminal at")
    parser.add_argument("--seed", type=int, help="seed for every random choice (reproducible runs)")
    parser.add_argument("--split", action="store_true", help="write in random small chunks")
    parser.add_argument(
        "--unplug-after",
        type=_non_negative,
        metavar="S",
        help="unplug the device S seconds after it became active",
    )
    parser.add_argument(
        "--unplug-for",
        type=_non_negative,
        default=3.0,
        metavar="S",
        help="how long it stays unplugged (default 3)",
    )
    parser.add_argument("--verbose", action="store_true", help="describe what is sent on stderr")


def build_parser() -> argparse.ArgumentParser:
    """The ``patrol-sim`` argument parser."""
    parser = argparse.ArgumentParser(prog="patrol-sim", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)

    gps = commands.add_parser("gps", help="a GNSS receiver (NMEA 0183) on a pseudo-terminal")
    _add_common(gps)
    gps.add_argument("--nmea", type=Path, help="NMEA log to replay (default: a synthetic route in Ljubljana)")
    gps.add_argument(
        "--rate",
        type=_non_negative,
        default=1.0,
        metavar="HZ",
        help="epochs per second, 0 = as fast as the reader takes them (default 1)",
    )
    gps.add_argument("--loop", action="store_true", help="replay the log forever")
    gps.add_argument("--gsv", action="store_true", help="synthetic route: add GPGSV sentences")
    gps.add_argument("--baud", type=int, help="accepted and ignored: a pseudo-terminal has no baud rate")
    gps.add_argument(
        "--checksum-errors",
        type=_probability,
        default=0.0,
        metavar="P",
        help="probability a sentence gets a wrong checksum",
    )
    gps.add_argument(
        "--garbage",
        type=_probability,
        default=0.0,
        metavar="P",
        help="probability of random bytes before a sentence",
    )
    gps.add_argument(
        "--drop", type=_probability, default=0.0, metavar="P", help="probability a sentence is left out"
    )
    gps.add_argument(
        "--stall-after",
        type=_non_negative,
        metavar="S",
        help="the receiver goes silent S seconds after the first reader opened it",
    )
    gps.add_argument(
        "--stall-for",
        type=_non_negative,
        default=5.0,
        metavar="S",
        help="how long it stays silent (default 5)",
    )

    radio = commands.add_parser("radio", help="a TETRA radio (PEI) on a pseudo-terminal")
    _add_common(radio)
    _add_radio_arguments(radio)
    return parser


def _add_radio_arguments(radio: argparse.ArgumentParser) -> None:
    radio.add_argument("--issi", type=int, default=9000, help="the radio's own ISSI (default 9000)")
    radio.add_argument(
        "--cnumf-type",
        type=int,
        choices=(0, 6),
        default=6,
        help="AT+CNUMF? answers type 6 (17-digit TSI, default) or type 0 (bare ISSI)",
    )
    radio.add_argument("--script", type=Path, help="lines to print: '[@SECONDS] text', '#' comments")
    radio.add_argument("--loop", action="store_true", help="repeat the script forever")
    radio.add_argument("--log", type=Path, help="append every line received from the gateway to FILE")
    radio.add_argument("--echo", action="store_true", help="start with command echo on (as after ATE1)")
    radio.add_argument("--fleet", type=int, default=0, metavar="N", help="simulate N units sending SDS")
    radio.add_argument(
        "--rate",
        type=_non_negative,
        default=1.0,
        metavar="R",
        help="fleet messages per second, all units together (default 1)",
    )
    radio.add_argument(
        "--fleet-base-issi", type=int, default=1001001, help="first fleet ISSI (default 1001001)"
    )
    radio.add_argument(
        "--emergency-every",
        type=_non_negative,
        default=0.0,
        metavar="S",
        help="a fleet emergency every S seconds, 0 = never (default)",
    )
    radio.add_argument("--manifest", type=Path, help="write every fleet message as a JSON line to FILE")
    radio.add_argument("--fail-sends", action="store_true", help="refuse AT+CMGS with +CME ERROR: 31")
    radio.add_argument(
        "--lose-over-air",
        action="store_true",
        help="accept AT+CMGS, then report the transmission failed (+CMGS: <instance>,5,<mr>)",
    )
    radio.add_argument(
        "--garbage",
        type=_probability,
        default=0.0,
        metavar="P",
        help="probability of a garbage line before an output line",
    )
    radio.add_argument(
        "--cme-on-open",
        action="store_true",
        help="print +CME ERROR: 35 on open and refuse commands until an AT gets OK",
    )
    radio.add_argument(
        "--reboot-after",
        type=_non_negative,
        metavar="S",
        help="reboot S seconds after the first command: silence, power-up lines, state lost",
    )
    radio.add_argument("--odd-hex", action="store_true", help="drop the padding hex digit of SDS payloads")
    radio.add_argument(
        "--missing-payload",
        type=_probability,
        default=0.0,
        metavar="P",
        help="probability a +CTSDSR header comes without its payload line",
    )


def _make_gps(args: argparse.Namespace) -> PtyDevice:
    from simulators.gps import GpsFaults, GpsSimulator

    faults = GpsFaults(
        checksum_errors=args.checksum_errors,
        garbage=args.garbage,
        drop=args.drop,
        split=args.split,
        stall=_outage(args, "stall"),
        unplug=_outage(args, "unplug"),
    )
    return GpsSimulator(
        args.link,
        nmea=args.nmea,
        rate_hz=args.rate,
        loop=args.loop,
        faults=faults,
        seed=args.seed,
        with_gsv=args.gsv,
        verbose=args.verbose,
        announce=_print,
    )


def _make_radio(args: argparse.Namespace) -> PtyDevice:
    from simulators.radio import RadioFaults, RadioOptions, RadioSimulator

    faults = RadioFaults(
        split=args.split,
        garbage=args.garbage,
        cme_on_open=args.cme_on_open,
        reboot_after_s=args.reboot_after,
        odd_hex=args.odd_hex,
        missing_payload=args.missing_payload,
        fail_sends=args.fail_sends,
        lose_over_air=args.lose_over_air,
        unplug=_outage(args, "unplug"),
    )
    options = RadioOptions(
        issi=args.issi,
        cnumf_type=args.cnumf_type,
        echo=args.echo,
        script=args.script,
        loop_script=args.loop,
        log=args.log,
        fleet=args.fleet,
        fleet_rate=args.rate,
        fleet_base_issi=args.fleet_base_issi,
        emergency_every_s=args.emergency_every,
        manifest=args.manifest,
    )
    return RadioSimulator(
        args.link, options, faults=faults, seed=args.seed, verbose=args.verbose, announce=_print
    )


def _print(line: str) -> None:
    print(line, flush=True)


def main(argv: list[str] | None = None) -> int:
    """Run ``patrol-sim``; returns the exit status."""
    args = build_parser().parse_args(argv)
    try:
        simulator = _make_gps(args) if args.command == "gps" else _make_radio(args)
    except (OSError, ValueError) as exc:
        print(f"patrol-sim {args.command}: {exc}", file=sys.stderr)
        return 2

    def on_stop(signum: int, frame: FrameType | None) -> None:
        simulator.stop()

    def on_toggle(signum: int, frame: FrameType | None) -> None:
        simulator.toggle_plug()

    signal.signal(signal.SIGTERM, on_stop)
    signal.signal(signal.SIGINT, on_stop)
    signal.signal(signal.SIGUSR1, on_toggle)
    try:
        simulator.run()
    except LinkError as exc:
        print(f"patrol-sim {args.command}: {exc}", file=sys.stderr)
        return 2
    return 0
