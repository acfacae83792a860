"""`assetdav user add|list|update|passwd|remove`: manage the users file of a server."""

from __future__ import annotations

import argparse
import getpass
import sys
import termios

from stores.errors import StoreError
from stores.users import UserDirectory


def add_user_commands(commands: argparse._SubParsersAction, common) -> None:  # noqa: ANN001
    user = commands.add_parser("user", help="manage users (stored in <state-dir>/users.yaml)")
    actions = user.add_subparsers(dest="user_command", required=True)

    add = actions.add_parser("add", help="add a user")
    common(add)
    add.add_argument("name")
    _group_options(add)
    add.add_argument("--admin", action="store_true", help="may do anything")
    add.add_argument(
        "--password-stdin",
        action="store_true",
        help="read the password from stdin instead of prompting",
    )

    update = actions.add_parser("update", help="change a user's groups or admin flag")
    common(update)
    update.add_argument("name")
    _group_options(update)
    update.add_argument("--admin", action=argparse.BooleanOptionalAction, default=None)

    passwd = actions.add_parser("passwd", help="set a user's password")
    common(passwd)
    passwd.add_argument("name")
    passwd.add_argument("--password-stdin", action="store_true")

    remove = actions.add_parser("remove", help="remove a user")
    common(remove)
    remove.add_argument("name")

    listing = actions.add_parser("list", help="list users and their groups")
    common(listing)


def _group_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--read-groups", default=None, metavar="A,B", help="groups whose projects the user may read"
    )
    parser.add_argument(
        "--write-groups",
        default=None,
        metavar="A,B",
        help="groups whose projects the user may read and write",
    )


class NeedsPassword(Exception):
    """No password can be asked for (no terminal) and none was given."""


def _password(args: argparse.Namespace) -> str:
    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        if not sys.stdin.isatty():
            raise NeedsPassword
        try:
            password = getpass.getpass(f"Password for {args.name}: ")
            again = getpass.getpass("Again: ")
        except (EOFError, OSError, termios.error):
            raise NeedsPassword from None
        if again != password:
            raise SystemExit("assetdav: the passwords differ; nothing was changed")
    if not password:
        raise SystemExit("assetdav: an empty password is not allowed; nothing was changed")
    return password


def run_user_command(args: argparse.Namespace, directory: UserDirectory) -> int:
    try:
        if args.user_command == "list":
            for user in directory.all():
                flags = " (admin)" if user.admin else ""
                print(
                    f"{user.name}{flags}\tread: {','.join(user.read_groups) or '-'}"
                    f"\twrite: {','.join(user.write_groups) or '-'}"
                )
            return 0
        if args.user_command == "add":
            directory.add(
                args.name,
                _password(args),
                read_groups=args.read_groups or "",
                write_groups=args.write_groups or "",
                admin=args.admin,
            )
            print(f"added {args.name} to {directory.path}", file=sys.stderr)
        elif args.user_command == "update":
            directory.update(
                args.name,
                read_groups=args.read_groups,
                write_groups=args.write_groups,
                admin=args.admin,
            )
            print(f"updated {args.name}", file=sys.stderr)
        elif args.user_command == "passwd":
            if directory.get(args.name) is None:
                raise SystemExit(f"assetdav: there is no user {args.name!r}")
            directory.update(args.name, password=_password(args))
            print(f"changed the password of {args.name}", file=sys.stderr)
        elif args.user_command == "remove":
            directory.remove(args.name)
            print(f"removed {args.name}", file=sys.stderr)
    except StoreError as exc:
        print(f"assetdav: {exc.message}", file=sys.stderr)
        return 1
    except NeedsPassword:
        print(
            f"assetdav: {args.name} needs a password and there is no terminal to ask for it; "
            "pass it on standard input with --password-stdin "
            f'(echo "$PASSWORD" | assetdav user {args.user_command} {args.name} '
            "--password-stdin ...). Nothing was changed.",
            file=sys.stderr,
        )
        return 2
    return 0
