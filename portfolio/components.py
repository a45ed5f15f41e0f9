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
used as a key (strings, markup, bytes, ints, floats, booleans, None, lists, tuples,
sets, dicts, undefined values); anything else (a date, a decimal, an object, a
subclass of a dict) and a ``{% call %}`` with a body are rendered by the macro
itself every time.

A per-request secret (the sign-out form's CSRF token in the header) must not be a
parameter: every request would miss the cache and the cache would hold tokens. The
header (``navigation.page_header``) is drawn with ``CSRF_TOKEN_MARKER`` instead and
the token put in after (:func:`with_csrf_token`); so are the parts of a page kept rendered with forms in
them (drawn with :func:`drawn_with_forms`, filled in by the ``with_csrf_token`` filter).
"""

from __future__ import annotations

import io
import pickle
import re
import threading
from collections.abc import Callable
from functools import lru_cache
from typing import Any

from flask_wtf.csrf import generate_csrf
from jinja2 import Environment, Undefined
from jinja2_fragments.flask import render_block
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


def drawn_with_forms(template: str, block: str, **context: Any) -> Markup:
    """``block`` of ``template`` rendered to be kept between requests: its forms' CSRF tokens are the marker."""
    return Markup(render_block(template, block, csrf_token=lambda: CSRF_TOKEN_MARKER, **context))


class _NotPlainData(Exception):
    """Parameters that cannot be a cache key: the macro renders them itself."""


class Component:
    """One NHS.UK component macro, called like the macro, with its answers cached by parameters."""

    def __init__(self, name: str, macro: Callable[..., Any]):
        self.name = name
        self.macro = macro
        # The parameters a key stands for, for the cache to render on a miss (per thread: the development
        # server and the race tests serve requests in threads).
        self._asked = threading.local()
        self._render_key = lru_cache(maxsize=CACHE_SIZE)(self._render_asked)

    def __call__(self, params: Any = None, caller: Callable[[], Any] | None = None) -> Markup:
        if params is None:
            params = {}
        if caller is not None:
            return self.macro(params, caller=caller)
        try:
            key = _key_of(params)
        except _NotPlainData:
            return self.macro(params)
        self._asked.params = params
        return self._render_key(key)

    def _render_asked(self, key: bytes) -> Markup:
        return self.macro(self._asked.params)

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
            component = self._loaded[name] = Component(name, macro)
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
# A key is the parameters pickled, which keeps each value's type (markup and the same text as a string,
# escaped when printed; True and 1; "1" and 1 are different keys) and dicts' order (the macros' attribute
# loops follow it). Pickled in C: walking them in Python cost more than the cache saved on a page with a
# component per row. Anything but plain data (a date, an object) is refused, and rendered by the macro.


class _UndefinedValue:
    """What an undefined value is in a key: the macro is given the value itself."""


class _KeyPickler(pickle.Pickler):
    # Called for what is not an exact str, bytes, int, float, bool, None, list, tuple, dict, set or frozenset.
    def reducer_override(self, obj: Any) -> Any:
        if type(obj) is Markup or obj is Markup or obj is _UndefinedValue:
            return NotImplemented  # pickled as usual: markup as its class and text, the classes by name
        if isinstance(obj, Undefined):
            return _UndefinedValue, ()
        raise _NotPlainData


def _key_of(params: Any) -> bytes:
    buffer = io.BytesIO()
    _KeyPickler(buffer, protocol=pickle.HIGHEST_PROTOCOL).dump(params)
    return buffer.getvalue()
