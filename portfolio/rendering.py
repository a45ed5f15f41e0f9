"""The one place that decides between a whole page and an htmx fragment."""

from __future__ import annotations

from typing import Any

from flask import make_response, render_template
from flask.typing import ResponseReturnValue
from htmx_flask import request
from jinja2_fragments.flask import render_block, render_blocks


def wants_fragment() -> bool:
    """True for an htmx request that swaps part of a page.

    Boosted navigation and history restores need the whole page, so a bare
    ``HX-Request`` header is not enough.
    """
    return bool(request.htmx) and not request.htmx.boosted and not request.htmx.history_restore_request


def render(
    template: str,
    block: str | None = None,
    *,
    status: int = 200,
    oob: tuple[str, ...] = (),
    **context: Any,
) -> ResponseReturnValue:
    """Render ``template``, or only its ``block`` when htmx asks for a fragment.

    ``oob``: further blocks sent with the fragment for htmx to swap out of band
    (a lasting ``role="status"`` element outside the swapped region, say). The
    status line's macro (``templates/_live.html``) marks itself ``hx-swap-oob``
    only in a fragment: in a whole page (boosted navigation included) it is an
    ordinary element.
    """
    if block is not None and wants_fragment():
        if oob:
            body = render_blocks(template, [block, *oob], **context)
        else:
            body = render_block(template, block, **context)
    else:
        body = render_template(template, **context)
    response = make_response(body, status)
    response.vary.add("HX-Request")
    return response
