"""Extension by registration: a decorator that files functions in a table under a key."""

from collections.abc import Callable
from typing import Any, TypeVar

Function = TypeVar("Function", bound=Callable)


def registrar(table: dict[Any, Function]) -> Callable[[Any], Callable[[Function], Function]]:
    """`register = registrar(TABLE)`; then `@register(key)` puts the function in TABLE[key]."""

    def register(key: Any) -> Callable[[Function], Function]:
        def add(function: Function) -> Function:
            table[key] = function
            return function

        return add

    return register
