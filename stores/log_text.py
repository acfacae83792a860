"""Text from clients made safe for one log line: nothing a client sends may start a new
line or pass for another field (a forged access-log entry)."""

from __future__ import annotations


def printable(text: str) -> str:
    """`text` with control characters, backslashes and quotes escaped, so that it reads as
    one token of one line whatever the client sent."""
    out = []
    for ch in text:
        if ch == "\\" or ch == '"':
            out.append("\\" + ch)
        elif ch.isprintable():
            out.append(ch)
        else:
            code = ord(ch)
            out.append(f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}")
    return "".join(out)


def quoted(text: str) -> str:
    """`printable(text)` in double quotes."""
    return f'"{printable(text)}"'


def request_path(environ_path: str) -> str:
    """A WSGI PATH_INFO (UTF-8 bytes seen as Latin-1) as the text the client meant,
    undecodable bytes shown as escapes, quoted for a log line."""
    try:
        raw = environ_path.encode("latin-1")
    except UnicodeEncodeError:
        return quoted(environ_path)
    return quoted(raw.decode("utf-8", errors="backslashreplace"))
