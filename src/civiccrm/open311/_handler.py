"""
A framework-agnostic handler of the GeoReport v2 endpoints.

Give it what any web framework has (the method, the path, the query parameters and the
body) and it returns a :class:`Response` (status, headers, body) to send back::

    handler = Open311Handler(crm)
    response = handler.handle("GET", "/services.xml")

:func:`wsgi_app` wraps a handler as a WSGI application (the standard library's
``wsgiref`` serves it; so does any WSGI server).

Every failure is answered with the spec's error document (a list of ``code`` and
``description``) and its HTTP status, never a traceback: 400 for bad input, 403 for a
bad ``api_key`` (or a POSTed update to a handler without keys), 404 for an unknown
path, service, request or jurisdiction, 405 for a method the path does not take, 409
when the case was changed by someone else meanwhile, 413 for a body too large, 500 for
anything unexpected.

.. versionadded:: 0.1.0
"""

from __future__ import annotations

import hmac
import logging
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import parse_qs

import attrs

from civiccrm.errors import (
    AccessDeniedError,
    ConflictError,
    NotFoundError,
    Problem,
    ValidationError,
)
from civiccrm.models import format_utc
from civiccrm.models._common import to_utc
from civiccrm.open311._formats import Item, has_surrogate, to_csv, to_json, to_xml
from civiccrm.open311._service import Open311

if TYPE_CHECKING:
    from civiccrm.crm import CRM

__all__ = ["SPECIFICATION", "Open311Handler", "Response", "wsgi_app"]

#: The specification a discovery document names for this endpoint.
SPECIFICATION: Final = "http://wiki.open311.org/GeoReport_v2"
#: The largest request body read (a POST is a few form fields).
MAX_BODY: Final = 1_000_000

_log = logging.getLogger("civiccrm.open311")

_CONTENT_TYPES: Final = {
    "xml": "text/xml; charset=utf-8",
    "json": "application/json; charset=utf-8",
    "csv": "text/csv; charset=utf-8",
}
_ROUTE: Final = re.compile(
    r"(?P<name>discovery|services|requests|servicerequestupdates)"
    r"(?:/(?P<id>[^/]+?))?"
    r"\.(?P<fmt>xml|json|csv)"
)
_TOKEN_ROUTE: Final = re.compile(r"tokens/(?P<id>[^/]+?)\.(?P<fmt>xml|json)")
_TRUE: Final = ("true", "1", "yes")


@attrs.frozen
class Response:
    """
    What to send back: an HTTP status, headers and the body (UTF-8 bytes).

    .. versionadded:: 0.1.0
    """

    status: int
    headers: tuple[tuple[str, str], ...]
    body: bytes

    @property
    def content_type(self) -> str:
        """The Content-Type header."""
        return dict(self.headers).get("Content-Type", "")


class _Fail(Exception):
    """An answer with an error document."""

    def __init__(self, status: int, *descriptions: str, allow: str | None = None) -> None:
        super().__init__(descriptions[0] if descriptions else "")
        self.status = status
        self.descriptions = descriptions
        self.allow = allow


def _params(query: Mapping[str, Any] | str | bytes | None) -> dict[str, list[str]]:
    """Query or form parameters as lists of strings."""
    if query is None:
        return {}
    if isinstance(query, bytes | str):
        text = query.decode("utf-8", "replace") if isinstance(query, bytes) else query
        try:
            return parse_qs(text, keep_blank_values=True, max_num_fields=1000)
        except ValueError:
            raise _Fail(400, "too many query parameters (at most 1000)") from None
    out: dict[str, list[str]] = {}
    for key, value in query.items():
        if isinstance(value, list | tuple):
            out[str(key)] = [str(v) for v in value]
        elif value is not None:
            out[str(key)] = [str(value)]
    return out


def _one(params: Mapping[str, list[str]], name: str) -> str | None:
    values = params.get(name)
    if not values or values[-1] == "":
        return None
    return values[-1]


def _form_view(params: Mapping[str, list[str]]) -> dict[str, Any]:
    """Form fields as the service takes them: one value, or a list for ``[]`` names
    and repeated ones."""
    out: dict[str, Any] = {}
    for name, values in params.items():
        if name.endswith("[]") or len(values) > 1:
            out[name] = values
        else:
            out[name] = values[0] if values else None
    return out


class Open311Handler:
    """
    The GeoReport v2 endpoints on a CRM session.

    =========================================  =========================================
    ``GET  discovery.{xml,json}``              the discovery document
    ``GET  services.{xml,json}``               the service list
    ``GET  services/{code}.{xml,json}``        a service definition
    ``POST requests.{xml,json}``               open a case (finds or creates the citizen)
    ``GET  requests.{xml,json,csv}``           cases, with filters and pages; csv: bulk
    ``GET  requests/{id}.{xml,json}``          one case
    ``GET  tokens/{token}.{xml,json}``         the request id of a token
    ``GET  servicerequestupdates.{xml,json}``  status changes and notes (FixMyStreet)
    ``POST servicerequestupdates.{xml,json}``  an update from a client (FixMyStreet)
    =========================================  =========================================

    Args:
        crm: the session the endpoints work on; its actor makes the writes (citizens,
            cases, notes) and reads.
        api_keys: keys a POST must carry (``api_key``), mapped to who holds them; None
            accepts POSTed requests without a key and refuses POSTed updates (403).
        prefix: a path prefix to strip (``/open311/v2``).

    .. versionadded:: 0.1.0
    """

    def __init__(
        self,
        crm: CRM,
        *,
        api_keys: Mapping[str, str] | None = None,
        prefix: str = "",
    ) -> None:
        self.crm = crm
        self.open311 = Open311(crm, public=True)
        self.api_keys = dict(api_keys) if api_keys is not None else None
        self.prefix = "/" + prefix.strip("/") if prefix.strip("/") else ""

    # --- the entry point ---------------------------------------------------------------

    def handle(
        self,
        method: str,
        path: str,
        query: Mapping[str, Any] | str | bytes | None = None,
        body: bytes | Mapping[str, Any] | None = None,
        *,
        content_type: str | None = None,
        base_url: str | None = None,
    ) -> Response:
        """
        Answer one HTTP request.

        Args:
            method: ``GET`` or ``POST`` (``HEAD`` is answered as ``GET``).
            path: the URL path (``/services/001.json``), without the query string.
            query: the query parameters: a mapping (values a string or a list of them)
                or the raw query string.
            body: a POST's body (form-encoded bytes) or its already parsed form fields.
            content_type: the body's Content-Type.
            base_url: the URL the endpoints live under, for the discovery document when
                the profile names none.
        """
        fmt = "xml"
        try:
            route = self._route(path)
            fmt = route[2]
            return self._dispatch(method.upper(), route, query, body, content_type, base_url)
        except _Fail as fail:
            return self._error(fail.status, fail.descriptions, fmt, allow=fail.allow)
        except NotFoundError as exc:
            return self._error(404, (str(exc),), fmt)
        except ValidationError as exc:
            return self._error(400, tuple(_describe(p) for p in exc.problems), fmt)
        except AccessDeniedError as exc:
            return self._error(403, (str(exc),), fmt)
        except ConflictError:
            return self._error(
                409,
                ("conflict: the service request was changed meanwhile; send it again",),
                fmt,
            )
        except Exception:  # noqa: BLE001 - answered with an error document, logged
            _log.exception("open311: unexpected error on %s %s", method, path[:200])
            return self._error(500, ("internal error: the request could not be completed",), fmt)

    def _route(self, path: str) -> tuple[str, str | None, str]:
        clean = path.split("?", 1)[0]
        if self.prefix and clean.startswith(self.prefix):
            clean = clean[len(self.prefix) :]
        clean = clean.strip("/")
        fmt = "xml"
        if clean.endswith(".json"):
            fmt = "json"
        match = _TOKEN_ROUTE.fullmatch(clean)
        if match is not None:
            return "tokens", match["id"], match["fmt"]
        match = _ROUTE.fullmatch(clean)
        if match is None:
            raise _Fail(404, f"no such endpoint: /{clean[:100]}" if clean else "no such endpoint")
        name, ident, fmt = match["name"], match["id"], match["fmt"]
        if ident is not None and name not in ("services", "requests"):
            raise _Fail(404, f"no such endpoint: /{clean[:100]}")
        if fmt == "csv" and not (name == "requests" and ident is None):
            raise _Fail(404, "csv is served for the bulk request list (requests.csv) only")
        return name, ident, fmt

    def _dispatch(
        self,
        method: str,
        route: tuple[str, str | None, str],
        query: Mapping[str, Any] | str | bytes | None,
        body: bytes | Mapping[str, Any] | None,
        content_type: str | None,
        base_url: str | None,
    ) -> Response:
        name, ident, fmt = route
        params = _params(query)
        if method == "HEAD":
            method = "GET"
        post = (name == "requests" and ident is None) or name == "servicerequestupdates"
        allowed = "GET, POST" if post else "GET"
        if method not in allowed.split(", "):
            raise _Fail(405, f"{method} is not allowed here (allowed: {allowed})", allow=allowed)
        _no_surrogates(params)
        if method == "POST":
            form = self._form(body, content_type)
            _no_surrogates(form)
            for key, values in params.items():
                form.setdefault(key, values)
            self._jurisdiction(form)
            if name == "servicerequestupdates" and self.api_keys is None:
                # An update moves a case (it may close it): never from anyone at all.
                raise _Fail(
                    403,
                    "posting servicerequestupdates needs an api_key, and this endpoint "
                    "has none configured",
                )
            self._api_key(form)
            if name == "requests":
                _case, item = self.open311.submit(_form_view(form))
                return self._ok(fmt, "requests", [item])
            return self._post_update(fmt, form)
        self._jurisdiction(params)
        if name == "discovery":
            return self._ok(fmt, "discovery", self._discovery(base_url))
        if name == "services":
            if ident is None:
                return self._ok(fmt, "services", self.open311.services())
            return self._ok(fmt, "service_definition", self.open311.definition(ident))
        if name == "tokens":
            assert ident is not None
            case = self.open311.find_case(ident)
            if case is None:
                raise _Fail(404, f"no token {ident!r}")
            return self._ok(
                fmt,
                "requests",
                [{"service_request_id": self.open311.request_id(case), "token": ident}],
            )
        if name == "servicerequestupdates":
            start, end = self._dates(params)
            return self._ok(fmt, "updates", self.open311.updates(start=start, end=end))
        extensions = (_one(params, "extensions") or "").lower() in _TRUE
        if ident is not None:
            case = self.open311.find_case(ident)
            if case is None:
                raise _Fail(404, f"no service request {ident!r}")
            return self._ok(fmt, "requests", [self.open311.request(case, extensions=extensions)])
        return self._requests(fmt, params, extensions)

    # --- the endpoints -----------------------------------------------------------------

    def _requests(self, fmt: str, params: Mapping[str, list[str]], extensions: bool) -> Response:
        service = self.open311
        ids = _one(params, "service_request_id")
        if ids is not None:
            # The spec: with ids, every other filter is ignored.
            found = [service.find_case(i.strip()) for i in ids.split(",") if i.strip()]
            items = [service.request(c, extensions=extensions) for c in found if c is not None]
            return self._list(fmt, items)
        problems: list[str] = []
        codes_given = _one(params, "service_code")
        codes = None if codes_given is None else [c.strip() for c in codes_given.split(",")]
        statuses_given = _one(params, "status")
        statuses = None
        if statuses_given is not None:
            statuses = [s.strip().lower() for s in statuses_given.split(",")]
            for s in statuses:
                if s not in ("open", "closed"):
                    problems.append(f"status: {s!r} is not open or closed")
        start, end = self._dates(params, problems)
        settings = service.settings
        page = _whole(params, "page", 1, 1, 1_000_000, problems)
        size = _whole(params, "page_size", settings.page_size, 1, settings.max_page_size, problems)
        if problems:
            raise _Fail(400, *problems)
        cases = service.find_cases(
            service_codes=codes, statuses=statuses, start=start, end=end, page=page, page_size=size
        )
        items = [service.request(c, extensions=extensions or fmt == "csv") for c in cases]
        return self._list(fmt, items)

    def _list(self, fmt: str, items: list[Item]) -> Response:
        if fmt == "csv":
            from civiccrm.open311._bulk import BULK_FIELDS, to_bulk_rows

            text = to_csv(to_bulk_rows(items), BULK_FIELDS)
            return self._response(200, "csv", text.encode("utf-8"))
        return self._ok(fmt, "requests", items)

    def _post_update(self, fmt: str, form: Mapping[str, list[str]]) -> Response:
        item = {k: v[-1] for k, v in form.items() if v}
        result = self.open311.import_updates([item])
        if result.rejected:
            raise ValidationError([_strip_index(p) for p in result.rejected])
        return self._ok(fmt, "updates", [{"update_id": item.get("update_id")}])

    def _discovery(self, base_url: str | None) -> Item:
        settings = self.open311.settings.discovery
        url = settings.url or (base_url.rstrip("/") if base_url else None)
        changeset = format_utc(settings.changeset)
        return {
            "changeset": changeset,
            "contact": settings.contact,
            "key_service": settings.key_service,
            "endpoints": [
                {
                    "specification": SPECIFICATION,
                    "url": url,
                    "changeset": changeset,
                    "type": settings.type,
                    "formats": ["text/xml", "application/json"],
                }
            ],
        }

    # --- checks ------------------------------------------------------------------------

    def _form(
        self, body: bytes | Mapping[str, Any] | None, content_type: str | None
    ) -> dict[str, list[str]]:
        if body is None:
            return {}
        if isinstance(body, Mapping):
            return _params(body)
        if len(body) > MAX_BODY:
            raise _Fail(413, f"the body is larger than {MAX_BODY} bytes")
        kind = (content_type or "application/x-www-form-urlencoded").split(";")[0].strip().lower()
        if kind != "application/x-www-form-urlencoded":
            raise _Fail(
                400, f"send the fields form-encoded (application/x-www-form-urlencoded), not {kind}"
            )
        try:
            return parse_qs(body.decode("utf-8"), keep_blank_values=True, max_num_fields=1000)
        except UnicodeDecodeError:
            raise _Fail(400, "the body is not UTF-8") from None
        except ValueError as exc:
            raise _Fail(400, f"the body is not a form: {exc}") from None

    def _jurisdiction(self, params: Mapping[str, list[str]]) -> None:
        given = _one(params, "jurisdiction_id")
        ours = self.open311.settings.jurisdiction_id
        if given is not None and ours is not None and given != ours:
            raise _Fail(
                404, f"jurisdiction_id {given[:100]!r} not found (this endpoint serves {ours!r})"
            )

    def _api_key(self, params: Mapping[str, list[str]]) -> None:
        if self.api_keys is None:
            return
        key = _one(params, "api_key")
        if key is None:
            raise _Fail(403, "api_key is required")
        if not any(hmac.compare_digest(key.encode(), k.encode()) for k in self.api_keys):
            raise _Fail(403, "invalid api_key")

    def _dates(
        self, params: Mapping[str, list[str]], problems: list[str] | None = None
    ) -> tuple[datetime | None, datetime | None]:
        found: list[str] = [] if problems is None else problems
        out: list[datetime | None] = []
        for name in ("start_date", "end_date"):
            value = _one(params, name)
            if value is None:
                out.append(None)
                continue
            try:
                out.append(to_utc(value.replace(" ", "+")))
            except ValueError:
                found.append(f"{name}: {value[:50]!r} is not a date and time with a time zone")
                out.append(None)
        if problems is None and found:
            raise _Fail(400, *found)
        return out[0], out[1]

    # --- answers -----------------------------------------------------------------------

    def _ok(self, fmt: str, kind: str, items: Sequence[Item] | Item) -> Response:
        body = to_json(items) if fmt == "json" else to_xml(kind, items)
        return self._response(200, fmt, body)

    def _response(self, status: int, fmt: str, body: bytes, allow: str | None = None) -> Response:
        headers = [
            ("Content-Type", _CONTENT_TYPES[fmt]),
            ("Content-Length", str(len(body))),
            ("X-Content-Type-Options", "nosniff"),
        ]
        if allow is not None:
            headers.append(("Allow", allow))
        return Response(status, tuple(headers), body)

    def _error(
        self, status: int, descriptions: Iterable[str], fmt: str, *, allow: str | None = None
    ) -> Response:
        items = [{"code": status, "description": d} for d in descriptions]
        if not items:
            items = [{"code": status, "description": "error"}]
        fmt = "json" if fmt == "json" else "xml"
        body = to_json(items) if fmt == "json" else to_xml("errors", items)
        return self._response(status, fmt, body, allow)


def _no_surrogates(params: Mapping[str, list[str]]) -> None:
    """Refuse a parameter whose name or value holds a lone surrogate (not text: no
    answer could carry it back as UTF-8)."""
    for name, values in params.items():
        if has_surrogate(name) or any(has_surrogate(v) for v in values):
            shown = name.encode("utf-8", "backslashreplace").decode("utf-8")[:100]
            raise _Fail(400, f"{shown}: holds a lone surrogate (\\ud800-\\udfff), not text")


def _describe(problem: Problem) -> str:
    return f"{problem.path}: {problem.message}" if problem.path else problem.message


def _strip_index(problem: Problem) -> Problem:
    path = re.sub(r"^\[\d+\]\.?", "", problem.path)
    return Problem(path, problem.message)


def _whole(
    params: Mapping[str, list[str]],
    name: str,
    default: int,
    low: int,
    high: int,
    problems: list[str],
) -> int:
    value = _one(params, name)
    if value is None:
        return default
    try:
        number = int(value)
    except ValueError:
        problems.append(f"{name}: {value[:20]!r} is not a whole number")
        return default
    if not low <= number <= high:
        problems.append(f"{name}: {number} is not from {low} to {high}")
        return default
    return number


def wsgi_app(handler: Open311Handler) -> Callable[..., Iterable[bytes]]:
    """
    The handler as a WSGI application.

    .. versionadded:: 0.1.0
    """

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        method = str(environ.get("REQUEST_METHOD", "GET"))
        body: bytes | None = None
        if method.upper() == "POST":
            try:
                length = int(environ.get("CONTENT_LENGTH") or 0)
            except ValueError:
                length = 0
            stream = environ.get("wsgi.input")
            body = stream.read(min(length, MAX_BODY + 1)) if stream is not None and length else b""
        path = environ.get("PATH_INFO", "/")
        if isinstance(path, str):
            # WSGI gives the path as latin-1 decoded bytes.
            path = path.encode("latin-1", "replace").decode("utf-8", "replace")
        scheme = environ.get("wsgi.url_scheme", "http")
        host = environ.get("HTTP_HOST") or environ.get("SERVER_NAME", "localhost")
        base = f"{scheme}://{host}{environ.get('SCRIPT_NAME', '')}{handler.prefix}"
        response = handler.handle(
            method,
            str(path),
            str(environ.get("QUERY_STRING", "")),
            body,
            content_type=environ.get("CONTENT_TYPE"),
            base_url=base,
        )
        reason = {
            200: "OK",
            400: "Bad Request",
            403: "Forbidden",
            404: "Not Found",
            405: "Method Not Allowed",
            409: "Conflict",
            413: "Payload Too Large",
            500: "Internal Server Error",
        }.get(response.status, "Error")
        start_response(f"{response.status} {reason}", list(response.headers))
        return [response.body if method.upper() != "HEAD" else b""]

    return app
