"""The one place that decides between a whole page and an htmx fragment."""

from __future__ import annotations

import json
from typing import Any

from flask import Flask, Response, current_app, make_response, render_template
from flask.typing import ResponseReturnValue
from htmx_flask import request
from jinja2_fragments.flask import render_block, render_blocks
from werkzeug.exceptions import HTTPException, MethodNotAllowed


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


def init_app(app: Flask) -> None:
    app.after_request(_keep_the_address_of_a_form_page)
    app.after_request(_keep_the_anchor_of_a_redirect)


def _keep_the_address_of_a_form_page(response: Response) -> Response:
    """An htmx answer to a form sent to an address that answers no GET (a decision, a recommendation) leaves the
    address bar on the page the form was on.

    A boosted form's answer would otherwise put the form's own address in the bar and in the history, and a reload
    or a return to it would ask the server for a page that does not exist there (405). Such a form answers with the
    page it sits on when it is refused (422); a form that succeeds redirects, and htmx shows where it went. (A
    certificate checked from a review that someone else decided meanwhile answers with the home page, under the
    review's address: a reload shows the review again, which is what changed.)
    """
    if request.method == "POST" and request.htmx and not _answers_get(request.path):
        response.headers["HX-Push-Url"] = "false"
    return response


def _answers_get(path: str) -> bool:
    adapter = current_app.create_url_adapter(request)
    assert adapter is not None  # in a request
    try:
        adapter.match(path, method="GET")
    except MethodNotAllowed:
        return False
    except HTTPException:  # no route at all, or a redirect to one: nothing to keep
        return True
    return True


def _keep_the_anchor_of_a_redirect(response: Response) -> Response:
    """A boosted form's redirect to a place in a page (``/frameworks/2#locality-specific``) lands there, as it does
    with JavaScript off.

    The browser's request object follows a redirect without its ``#...`` (it never reaches the client's script), and
    htmx scrolls a boosted answer to the top: a manager who added a competence was shown the top of a long page, the
    new competence far below. So htmx is told where to go instead (``HX-Location``), and asks for the page itself as
    boosted navigation would, keeping the anchor and scrolling to it.
    """
    location = response.headers.get("Location", "")
    # 302 and 303 only: they become a GET, as HX-Location's request is; a 307 or 308 would repeat the POST.
    if response.status_code in (302, 303) and "#" in location and request.htmx.boosted:
        response.status_code = 200
        del response.headers["Location"]
        response.set_data(b"")
        target = {"path": location, "target": "body", "headers": {"HX-Boosted": "true"}}
        response.headers["HX-Location"] = json.dumps(target)
    return response
