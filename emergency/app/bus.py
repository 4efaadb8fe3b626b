"""Commands and the one way to carry them out: `execute(ctx, command)`.

A command is a small frozen dataclass named as a verb (`DispatchCrew`), carrying the ids it acts on
and the versions the user saw. Each has exactly one handler, registered with `@handles`, which owns
the unit of work: role check, analysis lock where needed, one transaction, one audit event. Every
entry point goes through `execute`, so a page, an HTTP route and the CLI cannot do the same thing
in different ways.
"""

from __future__ import annotations

import functools
import importlib
import pkgutil
from collections.abc import Callable
from typing import Any, TypeVar

from emergency.app.context import Context

C = TypeVar("C")
Handler = Callable[[Context, Any], Any]

_HANDLERS: dict[type, Handler] = {}


def handles(command_type: type[C]) -> Callable[[Callable[[Context, C], Any]], Callable[[Context, C], Any]]:
    """Register the decorated function as the handler of `command_type` (one handler per command)."""

    def register(handler: Callable[[Context, C], Any]) -> Callable[[Context, C], Any]:
        if command_type in _HANDLERS:
            raise RuntimeError(f"{command_type.__name__} already has a handler")
        _HANDLERS[command_type] = handler
        return handler

    return register


def execute(ctx: Context, command: object) -> Any:
    """Carry out `command` as `ctx.actor`; raises the domain's errors (PermissionDenied, Conflict, ...)."""
    _load_handlers()
    handler = _HANDLERS.get(type(command))
    if handler is None:
        raise TypeError(f"no handler for {type(command).__name__}")
    return handler(ctx, command)


def registered() -> dict[type, Handler]:
    """Every command type and its handler (for tests and documentation)."""
    _load_handlers()
    return dict(_HANDLERS)


@functools.cache
def _load_handlers() -> None:
    # Importing every module of `emergency.app.commands` registers its handlers; done once, on first
    # use (not on every command: listing the package reads the file system), so that those modules
    # can import `handles` from here without a circle.
    import emergency.app.commands as package

    for module in pkgutil.iter_modules(package.__path__, f"{package.__name__}."):
        importlib.import_module(module.name)
