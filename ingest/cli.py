"""`dwh`: the command line over the functions the DAGs and tests also call."""

from __future__ import annotations

import argparse
import shlex
import sys
from collections.abc import Callable
from datetime import date

from ingest import settings as settings_module
from ingest import stack
from ingest.generators import DEFAULT_DIRT_RATE, DEFAULT_SEED, World
from ingest.loaders import RefusedError
from ingest.sinks import TARGETS


def _only(value: str | None) -> list[str] | None:
    return [name.strip() for name in value.split(",") if name.strip()] if value else None


def _rate(text: str) -> float:
    rate = float(text)
    if not 0 <= rate <= 1:
        raise argparse.ArgumentTypeError(f"{text} is not between 0 and 1")
    return rate


def _world(args: argparse.Namespace) -> World:
    return World(args.seed, args.scale, args.dirt_rate)


def cmd_up(args: argparse.Namespace) -> None:
    settings = settings_module.load()
    print(stack.report(stack.up(settings, _only(args.only)), "started", "already running"))
    print(f'\nsettings: eval "$(dwh env)"   logs and data: {settings.home}   stop: dwh down')


def cmd_down(args: argparse.Namespace) -> None:
    print(
        stack.report(stack.down(settings_module.load(), _only(args.only)), "stopped", "not running")
    )


def cmd_status(args: argparse.Namespace) -> None:
    running = True
    for service, pid in stack.status(settings_module.load()):
        running &= pid is not None
        state = f"running (pid {pid})" if pid else "stopped"
        print(f"{service.name:<11} {state:<22} {service.describe()}  log: {service.log_file}")
    if not running:
        sys.exit(3)


def cmd_env(args: argparse.Namespace) -> None:
    for key, value in sorted(settings_module.load().values.items()):
        print(f"export {key}={shlex.quote(value)}")


def cmd_ingest(args: argparse.Namespace) -> None:
    from ingest import pipeline

    settings = settings_module.load()
    loaders = {
        "faker": pipeline.ingest_faker,
        "s3": pipeline.ingest_s3,
        "kafka": pipeline.ingest_kafka,
    }
    for result in loaders[args.source](args.date, args.target, settings, _world(args)):
        print(result)


def cmd_generate(args: argparse.Namespace) -> None:
    from ingest import pipeline

    pipeline.generate(args.start, args.end, settings_module.load(), _world(args))


def cmd_run(args: argparse.Namespace) -> None:
    from ingest import pipeline

    pipeline.run(args.start, args.end, args.target, settings_module.load(), _world(args))


def cmd_demo(args: argparse.Namespace) -> None:
    from ingest import demo

    if not demo.main(settings_module.load()):
        sys.exit(1)


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="dwh", description=__doc__)
    commands = top.add_subparsers(dest="command", required=True)

    def command(name: str, func: Callable[[argparse.Namespace], None], help: str):
        sub = commands.add_parser(name, help=help, description=help)
        sub.set_defaults(func=func)
        return sub

    only_help = f"comma-separated subset of: {','.join(stack.SERVICES)}"
    command("up", cmd_up, "start the local stack (idempotent)").add_argument(
        "--only", help=only_help
    )
    command("down", cmd_down, "stop the local stack").add_argument("--only", help=only_help)
    command("status", cmd_status, "show the local stack (exit 3 if anything is stopped)")
    command("env", cmd_env, "print export lines for every DWH_* setting")

    def world(sub: argparse.ArgumentParser) -> argparse.ArgumentParser:
        """Options of the generated outside world (the same values make the same data)."""
        sub.add_argument("--seed", type=int, default=DEFAULT_SEED)
        sub.add_argument("--scale", type=float, default=1.0)
        sub.add_argument(
            "--dirt-rate",
            type=_rate,
            default=DEFAULT_DIRT_RATE,
            help=f"share of records made dirty, 0 to 1 (default {DEFAULT_DIRT_RATE})",
        )
        return sub

    def target(sub: argparse.ArgumentParser) -> argparse.ArgumentParser:
        sub.add_argument("--target", default="postgres", choices=TARGETS)
        return sub

    def day_range(sub: argparse.ArgumentParser) -> argparse.ArgumentParser:
        sub.add_argument("--start", type=date.fromisoformat, required=True)
        sub.add_argument("--end", type=date.fromisoformat, required=True)
        return sub

    ingest = target(world(command("ingest", cmd_ingest, "land one source's data for one day")))
    ingest.add_argument("source", choices=["faker", "s3", "kafka"])
    ingest.add_argument("--date", type=date.fromisoformat, required=True)
    world(
        day_range(command("generate", cmd_generate, "write the days' S3 files and Kafka messages"))
    )
    run_help = "generate + ingest + dbt build for each day of a range"
    target(world(day_range(command("run", cmd_run, run_help))))
    command("demo", cmd_demo, "the whole warehouse on the local stack, on Postgres and ClickHouse")
    return top


def main(argv: list[str] | None = None) -> None:
    args = parser().parse_args(argv)
    try:
        args.func(args)
    except (stack.StackError, RefusedError) as error:
        sys.exit(f"dwh: {error}")


if __name__ == "__main__":
    main()
