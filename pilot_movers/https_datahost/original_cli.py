"""The 2010 clients' names (``datahost-login`` ... ``datahost-ssl-get``), with every form the
2010 design wrote, each turned into a ``datahost`` command line (cli.py):

    datahost-login  [host user [password]]        datahost-logout [host user]
    datahost-ls     [host user]                   datahost-rm  [host user] filename
    datahost-put    [host user] filename          datahost-get [host user] filename
    datahost-ssl-put [host user [cert key]] filename
    datahost-ssl-get [host user [cert key]] filename

What a short form leaves out comes from the environment, as in 2010: $DATAHOST_ADDRESS,
$DATAHOST_USER, $DATAHOST_PASSWORD, $DATAHOST_CERT and $DATAHOST_KEY (else the proxy in
$X509_USER_PROXY), or from the session of the last login. A password on the command line is
accepted, with a warning that other users of the machine can read it; it is never printed.
"""

from __future__ import annotations

import sys
from typing import Callable, NamedTuple, Optional, Sequence

from pilot_movers.https_datahost.cli import main, say


class Form(NamedTuple):
    """What an original command line stands for."""

    argv: list[str]
    """The ``datahost`` arguments."""
    password: Optional[str] = None
    """A password given on the command line (never put into ``argv``)."""


#: name -> (the datahost command, the positional forms it accepts)
ORIGINAL_COMMANDS: dict[str, tuple[str, tuple[tuple[str, ...], ...]]] = {
    "datahost-login": ("login", ((), ("host", "user"), ("host", "user", "password"))),
    "datahost-logout": ("logout", ((), ("host", "user"))),
    "datahost-ls": ("ls", ((), ("host", "user"))),
    "datahost-rm": ("rm", (("filename",), ("host", "user", "filename"))),
    "datahost-put": ("put", (("filename",), ("host", "user", "filename"))),
    "datahost-get": ("get", (("filename",), ("host", "user", "filename"))),
    "datahost-ssl-put": (
        "ssl-put",
        (("filename",), ("host", "user", "filename"), ("host", "user", "cert", "key", "filename")),
    ),
    "datahost-ssl-get": (
        "ssl-get",
        (("filename",), ("host", "user", "filename"), ("host", "user", "cert", "key", "filename")),
    ),
}

PASSWORD_WARNING = (
    "warning: a password on the command line can be read by other users of this machine "
    "(ps, /proc) and stays in your shell's history; set DATAHOST_PASSWORD, use "
    "'datahost login --password-file FILE', or let the command ask for it"
)


class FormError(Exception):
    """The arguments match none of the command's forms (exit status 2)."""


def usage(name: str) -> str:
    command, forms = ORIGINAL_COMMANDS[name]
    shapes = " | ".join(" ".join(form) or "(no arguments)" for form in forms)
    left_out = "what is left out comes from $DATAHOST_ADDRESS, $DATAHOST_USER ..."
    return f"usage: {name} {shapes}; {left_out} (datahost {command})"


def original_form(name: str, argv: Sequence[str]) -> Form:
    """The ``datahost`` command line an original command line stands for (FormError if none)."""
    command, forms = ORIGINAL_COMMANDS[name]
    form = next((f for f in forms if len(f) == len(argv)), None)
    if form is None:
        # Never repeat the arguments: one of them may be a password.
        raise FormError(f"{len(argv)} argument(s) fit no form of {name}; {usage(name)}")
    values = dict(zip(form, argv))
    result = []
    if "host" in values:
        result += ["--address", values["host"], "--user", values["user"]]
    if "cert" in values:
        result += ["--cert", values["cert"], "--key", values["key"]]
    result.append(command)
    if command == "login" and "host" in values:
        result += [values["host"], values["user"]]
    if "filename" in values:
        result += ["--", values["filename"]]  # a file named like an option (-v) is still a file
    return Form(result, values.get("password"))


def original_argv(name: str, argv: Sequence[str]) -> list[str]:
    """The ``datahost`` arguments of an original command line without a password."""
    return original_form(name, argv).argv


def run_original(name: str, argv: Sequence[str]) -> int:
    if list(argv) in (["-h"], ["--help"]):
        print(usage(name))
        return 0
    try:
        form = original_form(name, argv)
    except FormError as exc:
        say(name, str(exc))
        return 2
    if form.password is not None:
        say(name, PASSWORD_WARNING)
    return main(form.argv, prog=name, password=form.password)


def _original_main(name: str) -> Callable[[], None]:
    def run() -> None:
        sys.exit(run_original(name, sys.argv[1:]))

    run.__name__ = name.replace("-", "_") + "_main"
    run.__doc__ = f"The console script {name}."
    return run


login_main = _original_main("datahost-login")
logout_main = _original_main("datahost-logout")
ls_main = _original_main("datahost-ls")
rm_main = _original_main("datahost-rm")
put_main = _original_main("datahost-put")
get_main = _original_main("datahost-get")
ssl_put_main = _original_main("datahost-ssl-put")
ssl_get_main = _original_main("datahost-ssl-get")
