"""The quick path's exchange with the endpoint, shared by the two ways a quick check starts: from
the command line (``_quick``, which reads it and compiles the conditions) and from a compiled plan
(``_check.read_plan``: the same values, kept from an earlier run of the same command line).
A check whose command line is not the quick path's never loads it.

``ask`` connects, sends the request, loads the two modules that read and judge the response while
the endpoint answers, and returns the answer or what the full path needs to give it. Both starts go
through it, so a plan answers exactly as the quick path does: it only skips reading the command line.
"""

import _socket
from time import monotonic

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

    from ._quick_fetch import Handover, Plan

    # (host, port, authority, URL as shown, request, timeout, verbose, conditions, names read)
    Ask = tuple[str, int, str, str, bytes, float, bool, Plan, set[str]]


def run_plan(plan: "Ask") -> "Handover":
    """Answer a check from its plan and leave the process at once, or return the full path's handover."""
    code, text, handover = ask(plan)
    if handover is not None:
        return handover
    say(code, text)
    raise AssertionError("unreachable")  # pragma: no cover


def ask(plan: "Ask") -> "tuple[int, str, Handover | None]":
    """Fetch and judge: (exit code, output, None), or (0, "", handover) for the full path.

    A failure to connect or send is said here as the full path says it; the request is sent before
    ``_quick_fetch`` and ``_quick_eval`` load, so they load while the endpoint answers.
    """
    host, port, authority, shown, request, timeout, verbose, conditions, names = plan
    started = monotonic()
    deadline = started + timeout
    try:
        sock = _connect(host, port, authority, deadline)
        _send(sock, request, deadline)
    except OSError as exc:
        said = exc.args[0] if len(exc.args) == 1 and isinstance(exc.args[0], str) else _reason(exc)
        return 2, f"FAIL - cannot read {shown}: {said}\n", None
    from . import preload

    preload("_quick_eval", "_quick_fetch")  # while the endpoint answers; .pyc straight in (the package says why)
    from ._quick_fetch import check

    return check(sock, _recv, (started, deadline), shown, conditions, names, verbose)


def say(code: int, text: str, after: "Callable[[], None] | None" = None) -> None:
    """Print the answer and leave with its exit code, as the full path does (no teardown); ``after``
    runs once the answer is out (the quick path keeps the plan for the next run then)."""
    import posix
    import sys

    try:
        sys.stdout.write(text)
        sys.stdout.flush()
    except OSError:
        pass
    if after is not None:
        after()
    posix._exit(code)


# -- the connection, as ``healthgauge.http.fetch`` words its failures


def _connect(host: str, port: int, authority: str, deadline: float) -> _socket.socket:
    last = None
    for family, address in _resolve(host, port, deadline):
        sock = _socket.socket(family, _socket.SOCK_STREAM)
        try:
            _wait(sock, deadline, "connect")
            sock.connect(address)
        except TimeoutError:
            sock.close()
            where = f"[{address[0]}]:{address[1]}" if ":" in address[0] else f"{address[0]}:{address[1]}"
            raise OSError(f"deadline passed connecting to {where}") from None
        except OSError as exc:
            sock.close()
            if exc.args and isinstance(exc.args[0], str) and exc.args[0].startswith("deadline passed"):
                raise
            last = exc
            continue
        return sock
    assert last is not None
    raise OSError(f"{_reason(last)} connecting to {authority}")


def _resolve(host: str, port: int, deadline: float) -> "list[tuple[int, tuple[str, int]]]":
    """An IP literal as it is; a name resolved on a helper thread, so the deadline bounds it too."""
    for family in (_socket.AF_INET, _socket.AF_INET6):
        try:
            _socket.inet_pton(family, host)
        except OSError:
            continue
        return [(family, (host, port))]
    import _thread

    box: list[object] = []
    done = _thread.allocate_lock()
    done.acquire()

    def lookup() -> None:
        try:
            box.append(_socket.getaddrinfo(host.encode("ascii"), port, 0, _socket.SOCK_STREAM))
        except Exception as exc:
            box.append(exc)
        finally:
            done.release()

    _thread.start_new_thread(lookup, ())
    if not done.acquire(timeout=max(deadline - monotonic(), 0.0)):
        raise OSError(f"deadline passed resolving {host!r}")
    result = box[0]
    if isinstance(result, Exception):
        raise OSError(f"cannot resolve host {host!r}: {_reason(result)}")
    return [(info[0], info[4]) for info in result]  # type: ignore[attr-defined]


def _wait(sock: _socket.socket, deadline: float, phase: str) -> None:
    left = deadline - monotonic()
    if left <= 0:
        raise OSError(f"deadline passed ({phase})")
    sock.settimeout(left)


def _reason(exc: BaseException) -> str:
    """An OS error as a short phrase, as ``healthgauge.http.fetch`` words it."""
    text = getattr(exc, "strerror", None) or getattr(exc, "reason", None) or str(exc) or type(exc).__name__
    return str(text)[:1].lower() + str(text)[1:]


def _send(sock: _socket.socket, request: bytes, deadline: float) -> None:
    _wait(sock, deadline, "send")
    try:
        sock.sendall(request)
    except TimeoutError:
        raise OSError("deadline passed while sending the request") from None
    except OSError as exc:
        raise OSError(f"{_reason(exc)} sending the request") from None


def _recv(sock: _socket.socket, into: "bytearray | memoryview", deadline: float, phase: str) -> int:
    _wait(sock, deadline, phase)
    try:
        return sock.recv_into(into)
    except TimeoutError:
        raise OSError(f"deadline passed ({phase})") from None
    except OSError as exc:
        raise OSError(f"{_reason(exc)} reading the response ({phase})") from None
