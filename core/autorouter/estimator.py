"""`fit_method`: an estimator's `fit` that may also be called on the class, scikit-learn's
`Estimator(**settings).fit(data)` and the shorthand `Estimator.fit(data, **settings)` in one."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any, Generic, TypeVar

E = TypeVar("E")


class fit_method(Generic[E]):
    """Lets `Router.fit(ds)` build a default router, while `Router(...).fit(ds)` fits in place.

    On the class, the keyword arguments the constructor takes go to it and the others to `fit`."""

    def __init__(self, func: Callable[..., E]) -> None:
        self.func = func
        functools.update_wrapper(self, func)  # type: ignore[arg-type]  # a descriptor, not a function

    def __get__(self, obj: E | None, cls: type[E]) -> Callable[..., E]:
        if obj is not None:
            return functools.partial(self.func, obj)
        settings = inspect.signature(cls).parameters

        @functools.wraps(self.func)
        def fit_new(dataset: Any, **kwargs: Any) -> E:
            init = {k: kwargs.pop(k) for k in list(kwargs) if k in settings}
            return self.func(cls(**init), dataset, **kwargs)

        return fit_new
