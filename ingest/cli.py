"""`dwh`: the command line over the functions the DAGs and tests also call."""

from __future__ import annotations

import argparse
import shlex
import sys
from collections.abc import Callable

from ingest import settings as settings_module
from ingest import stack


def _only(value: str | None) -> list[str] | None:
    return [name.strip() for name in value.split(",") if name.strip()] if value else None


def cmd_up(args: argparse.Namespace) -> None:
    settings = settings_module.load()
    for service, started in stack.up(settings, _only(args.only)):
        state = "started" if started else "already running"
        print(f"{service.name:<11} {state:<16} {service.describe()}")
    print(f"\nsettings: eval \"$(dwh env)\"   logs and data: {settings.home}   stop: dwh down")


def cmd_down(args: argparse.Namespace) -> None:
    for service, was_running in stack.down(settings_module.load(), _only(args.only)):
        print(f"{service.name:<11} {'stopped' if was_running else 'not running'}")


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


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="dwh", description=__doc__)
    commands = top.add_subparsers(dest="command", required=True)

    def command(name: str, func: Callable[[argparse.Namespace], None], help: str):
        sub = commands.add_parser(name, help=help, description=help)
        sub.set_defaults(func=func)
        return sub

    only_help = f"comma-separated subset of: {','.join(stack.SERVICES)}"
    command("up", cmd_up, "start the local stack (idempotent)").add_argument("--only", help=only_help)
    command("down", cmd_down, "stop the local stack").add_argument("--only", help=only_help)
    command("status", cmd_status, "show the local stack (exit 3 if anything is stopped)")
    command("env", cmd_env, "print export lines for every DWH_* setting")
    return top


def main(argv: list[str] | None = None) -> None:
    args = parser().parse_args(argv)
    try:
        args.func(args)
    except stack.StackError as error:
        sys.exit(f"dwh: {error}")


if __name__ == "__main__":
    main()
