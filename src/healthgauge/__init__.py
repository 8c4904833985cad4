"""healthgauge: health as a spectrum.

Turns the Prometheus metrics a service already exposes into the answers its orchestrator and load
balancers need (restart or not, send traffic or not, how much), and helps Python services measure
their own overload and shed load before they collapse.

The public API lives in subpackages, each with a small ``__init__``:

- ``healthgauge.exposition``: the Prometheus text / OpenMetrics parser;
- ``healthgauge.promql``: PromQL conditions evaluated over a scrape or a short history;
- ``healthgauge.health``: judgement of condition results, HAProxy agent-check words;
- ``healthgauge.agent``: the agent, to run or embed (its config, state hub and levels);
- ``healthgauge.overload``: overload detection, adaptive limits, load shedding and middleware;
- ``healthgauge.broker``: Spillway-style dispatch of jobs to workers that report their load;
- ``healthgauge.agentcheck``: HAProxy agent-check: the one codec and the one asyncio listener;
- ``healthgauge.http``: HTTP/1.1 for scraping: the pure core, ``http.fetch`` (also ``healthgauge.fetch``);
- ``healthgauge.testing``: a fake clock and page builders, for our tests and yours.

Importing this package imports nothing else: ``healthgauge check`` pays for every module it loads.
That is also why :func:`_lazy` lives here: every package's ``__init__`` uses it, ``check`` included,
and this module is loaded anyway.
"""

import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

__version__ = "0.1.0"

__all__ = ["__version__"]


def _lazy(package: str, names: "Mapping[str, str]") -> "Callable[[str], object]":
    """A module ``__getattr__`` for ``package`` that imports some public names on first use.

    ``names`` maps each lazy name to the absolute name of the module that defines it, or to
    ``"module:attribute"`` where the public name differs. The value is kept in the package, so the
    import happens once. In the package: ``__getattr__ = _lazy(__name__, {...})``, with the same
    names imported under ``if TYPE_CHECKING:`` for mypy.
    """

    def __getattr__(name: str) -> object:
        target = names.get(name)
        if target is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        module_name, _, attribute = target.partition(":")
        module = __import__(module_name, None, None, ["__name__"])
        value = getattr(module, attribute or name)
        setattr(sys.modules[package], name, value)
        return value

    return __getattr__


def _launch() -> None:
    """The installed ``healthgauge`` command (``scripts/healthgauge`` calls this, with the package
    on ``sys.path``, before ``site`` runs). Python compiles that file at every run (~50 K
    instructions a statement), so what it does is here, compiled once into this package's
    ``.pyc``: ``check`` goes to its quick path without ``site`` (DEVELOPERS.md, "The check path");
    every other command runs the full ``site`` set-up first. It does not return.
    """
    import _signal  # type: ignore[import-not-found]  # `signal` imports enum

    _signal.signal(_signal.SIGINT, _signal.SIG_DFL)  # Ctrl-C ends a command with no traceback
    if sys.argv[1:2] == ["check"]:
        from healthgauge._check._quick import main as check

        check(sys.argv[2:])  # answers and leaves
    if "site" not in sys.modules:  # the launcher ran it when it could not find the package alone
        import site

        site.main()
    from healthgauge.cli import main

    sys.exit(main(sys.argv[1:]))
