"""The NHS.UK frontend's components, each rendered once per distinct set of parameters.

nhsuk-frontend-jinja's component macros are pure: what they print depends only on
the parameters they are given. Each call is nonetheless costly (it includes the
component's template in a fresh context, then its attribute and class macros), and
a page calls the same component with the same parameters many times: a status tag
per competence on the competence map, the header and footer on every page, the
filter fields of every list. Profiling showed those calls were most of a page's
rendering time.

So templates take the components from the ``nhsuk`` global instead of importing
the macros (``{% set tag = nhsuk.tag %}`` where the NHS.UK guide writes
``{% from "nhsuk/components/tag/macro.jinja" import tag %}``), and a call whose
parameters were seen before is answered from a bounded cache. Only plain data is
used as a key (strings, markup, numbers, booleans, None, lists, dicts, undefined
values); anything else (a date, an object) and a ``{% call %}`` with a body are
rendered by the macro itself every time.

A per-request secret (the sign-out form's CSRF token in the header) must not be a
parameter: every request would miss the cache and the cache would hold tokens. The
header (``navigation.page_header``) is drawn with ``CSRF_TOKEN_MARKER`` instead and
the token put in after (:func:`with_csrf_token`).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import lru_cache
from typing import Any

from flask_wtf.csrf import generate_csrf
from jinja2 import Environment, Undefined
from markupsafe import Markup

# Distinct parameter sets kept per component: most outputs are well under 1 KB, a table a few KB,
# so a worker process holds a few MB at most.
CACHE_SIZE = 512

# NUL cannot come from a request (params.py refuses it) nor be stored in PostgreSQL text, so no
# user's text can hold the marker.
CSRF_TOKEN_MARKER = "\x00csrf-token\x00"

_COMPONENT = re.compile(r"^nhsuk/components/[a-z-]+/macro\.jinja$")
_MACRO_NAME = re.compile(r"{%-?\s*macro\s+(\w+)\s*\(")


def with_csrf_token(html: str) -> Markup:
    """``html`` (a cached component's output) with this request's CSRF token where the marker is."""
    return Markup(str(html).replace(CSRF_TOKEN_MARKER, generate_csrf()))


class _NotPlainData(Exception):
    """Parameters that cannot be a cache key: the macro renders them itself."""


class Component:
    """One NHS.UK component macro, called like the macro, with its answers cached by parameters."""

    def __init__(self, name: str, macro: Callable[..., Any], undefined: type[Undefined]):
        self.name = name
        self.macro = macro
        self._undefined = undefined
        self._render_key = lru_cache(maxsize=CACHE_SIZE)(self._render_key_uncached)

    def __call__(self, params: Any = None, caller: Callable[[], Any] | None = None) -> Markup:
        if params is None:
            params = {}
        if caller is not None:
            return self.macro(params, caller=caller)
        try:
            key = _freeze(params)
        except _NotPlainData:
            return self.macro(params)
        return self._render_key(key)

    def _render_key_uncached(self, key: Any) -> Markup:
        return self.macro(_thaw(key, self._undefined))

    def cache_info(self):
        return self._render_key.cache_info()


class Components:
    """``nhsuk.<macroName>``: the components, loaded from the package's templates on first use."""

    def __init__(self, environment: Environment):
        self._environment = environment
        self._loaded: dict[str, Component] = {}
        self._paths: dict[str, str] | None = None  # macro name -> its template, read on first use

    def __getattr__(self, name: str) -> Component:
        if name.startswith("_"):
            raise AttributeError(name)
        component = self._loaded.get(name)
        if component is None:
            path = self._macro_paths().get(name)
            if path is None:
                raise AttributeError(f"the NHS.UK frontend has no component macro {name!r}")
            macro = getattr(self._environment.get_template(path).module, name)
            component = self._loaded[name] = Component(name, macro, self._environment.undefined)
        return component

    def _macro_paths(self) -> dict[str, str]:
        """Each component's macro name (``backLink``) and the template defining it (``nhsuk/components/back-link/...``)."""
        if self._paths is None:
            loader = self._environment.loader
            assert loader is not None
            paths = {}
            for path in loader.list_templates():
                if _COMPONENT.match(path):
                    source, _, _ = loader.get_source(self._environment, path)
                    for name in _MACRO_NAME.findall(source):
                        paths[name] = path
            self._paths = paths
        return self._paths


# --- Parameters as cache keys ----------------------------------------------------------
# A key keeps each value's type, so that markup and the same text as a string (escaped
# when printed), True and 1, or "1" and 1 are different keys; dicts keep their order,
# which the macros' attribute loops follow.

_MARKUP, _DICT, _LIST, _UNDEFINED = "markup", "dict", "list", "undefined"


def _freeze(value: Any) -> Any:
    kind = type(value)
    if kind is str:
        return value
    if kind is Markup:
        return (_MARKUP, str(value))
    if value is None or kind in (bool, int, float):
        return (kind, value)
    if kind is dict:
        if not all(type(k) is str for k in value):
            raise _NotPlainData
        return (_DICT, tuple((k, _freeze(v)) for k, v in value.items()))
    if kind in (list, tuple):
        return (_LIST, tuple(_freeze(v) for v in value))
    if isinstance(value, Undefined):
        return (_UNDEFINED,)
    raise _NotPlainData


def _thaw(key: Any, undefined: type[Undefined]) -> Any:
    if type(key) is str:
        return key
    kind = key[0]
    if kind == _MARKUP:
        return Markup(key[1])
    if kind == _DICT:
        return {k: _thaw(v, undefined) for k, v in key[1]}
    if kind == _LIST:
        return [_thaw(v, undefined) for v in key[1]]
    if kind == _UNDEFINED:
        return undefined()
    return key[1]
