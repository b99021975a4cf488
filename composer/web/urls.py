"""How ids appear in URLs."""

from __future__ import annotations

from typing import Any

from werkzeug.routing import IntegerConverter, Map

#: The largest id a URL may hold: the database's integer columns (PostgreSQL's ``integer``)
#: hold no more, and a larger number could only reach the database as an error.
MAX_URL_ID = 2**31 - 1


class IdConverter(IntegerConverter):
    """``<int:...>`` in every route: a whole number from 0 to :data:`MAX_URL_ID`. Anything
    larger (``/incidents/9223372036854775808/``) matches no route, so it is a 404 like any
    other id that does not exist, and never reaches the database."""

    def __init__(self, map: Map, *args: Any, **kwargs: Any) -> None:
        super().__init__(map, *args, **kwargs)
        self.min = 0 if self.min is None else self.min
        self.max = MAX_URL_ID if self.max is None else min(self.max, MAX_URL_ID)
