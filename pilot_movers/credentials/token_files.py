"""Reading a file that holds a token (a WLCG bearer token file, HTCondor's ``$_CONDOR_CREDS``
``.use`` files): a few KiB at most; errors name the file, never its content."""

from __future__ import annotations

from pilot_movers.errors import CredentialError

#: Tokens are a few KiB at most; a bigger file is not a token.
MAX_TOKEN_BYTES = 64 * 1024


def read_token_file(path: str, what: str = "bearer token file") -> bytes:
    """The bytes of the token file at ``path``; CredentialError (naming ``what`` and the path)
    when it cannot be read or is too big to be a token."""
    try:
        with open(path, "rb") as handle:
            raw = handle.read(MAX_TOKEN_BYTES + 1)
    except OSError as exc:
        raise CredentialError(f"cannot read the {what} {path}: {exc.strerror}") from None
    if len(raw) > MAX_TOKEN_BYTES:
        raise CredentialError(f"the {what} {path} is larger than {MAX_TOKEN_BYTES} bytes")
    return raw
