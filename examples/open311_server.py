"""
An Open311 GeoReport v2 server for the Springfield example profile, on nothing but the
standard library's ``wsgiref``.

    python examples/open311_server.py [--port 8311] [--db URL] [--api-key KEY] [--check]

Then, for instance::

    curl http://127.0.0.1:8311/services.xml
    curl http://127.0.0.1:8311/services/001.json
    curl -d service_code=001 -d lat=39.7817 -d long=-89.6501 \\
         -d 'attribute[size]=large' -d email=ana@example.org \\
         http://127.0.0.1:8311/requests.json
    curl 'http://127.0.0.1:8311/requests.json?status=open&extensions=true'

``--db`` defaults to ``memory://`` (everything is gone when the server stops); give
``sqlite:///open311.db`` to keep it. With ``--api-key``, a POST must carry that key.
``--check`` starts the server on a free port, asks it a few questions over HTTP, prints
what it answered and stops: a quick way to see it work.

This is an example, not a production server: ``wsgiref`` serves one request at a time
and speaks plain HTTP. Behind a real WSGI server and TLS, the same application serves
an agency's endpoint.
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import urllib.error
import urllib.parse
import urllib.request
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterable, Sequence
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import civiccrm
from civiccrm.crm import CRM, Actor
from civiccrm.open311 import Open311Handler, wsgi_app
from civiccrm.profile import springfield_path


class _QuietHandler(WSGIRequestHandler):
    """No access log on stderr (the log would show query strings)."""

    def log_message(self, format: str, *args: Any) -> None:
        pass


def make_app(crm: CRM, *, api_keys: dict[str, str] | None = None) -> Callable[..., Iterable[bytes]]:
    """The WSGI application serving GeoReport v2 on ``crm``."""
    return wsgi_app(Open311Handler(crm, api_keys=api_keys))


def open_crm(url: str) -> CRM:
    """A session on the Springfield profile, acting as the Open311 endpoint."""
    return civiccrm.open(
        url,
        profile=springfield_path(),
        actor=Actor(name="open311-endpoint"),
        purpose="Open311 GeoReport v2 endpoint",
    )


def serve(crm: CRM, host: str, port: int, api_keys: dict[str, str] | None) -> WSGIServer:
    """A server (not started) for the endpoint on ``host:port`` (0: a free port)."""
    return make_server(host, port, make_app(crm, api_keys=api_keys), handler_class=_QuietHandler)


def _fetch(url: str, data: dict[str, str] | None = None) -> tuple[int, bytes]:
    body = None if data is None else urllib.parse.urlencode(data).encode()
    try:
        with urllib.request.urlopen(url, data=body, timeout=30) as response:
            return int(response.status), bytes(response.read())
    except urllib.error.HTTPError as exc:
        return int(exc.code), bytes(exc.read())


def check(crm: CRM, api_key: str | None) -> None:
    """Start the server on a free port, ask it a few things, print the answers."""
    keys = {api_key: "example client"} if api_key else None
    server = serve(crm, "127.0.0.1", 0, keys)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{server.server_port}"
    try:
        status, body = _fetch(f"{base}/services.xml")
        codes = [e.text for e in ET.fromstring(body).iter("service_code")]
        print(f"GET services.xml: {status}, {len(codes)} services, first {codes[0]}")
        status, body = _fetch(f"{base}/services/001.json")
        definition = json.loads(body)
        names = [a["code"] for a in definition["attributes"]]
        print(f"GET services/001.json: {status}, attributes {names}")
        form = {
            "service_code": "001",
            "lat": "39.7817",
            "long": "-89.6501",
            "attribute[size]": "large",
            "email": "ana@example.org",
            "first_name": "Ana",
            "description": "Deep pothole. Call me on 217-555-0134.",
        }
        if api_key:
            form["api_key"] = api_key
        status, body = _fetch(f"{base}/requests.json", form)
        request_id = json.loads(body)[0]["service_request_id"]
        print(f"POST requests.json: {status}, a service request id")
        status, body = _fetch(f"{base}/requests/{urllib.parse.quote(request_id)}.json")
        request = json.loads(body)[0]
        print(
            f"GET requests/<id>.json: {status}, status {request['status']}, "
            f"description {request['description']!r}"
        )
        status, body = _fetch(f"{base}/requests.xml", {"service_code": "001"})
        errors = [e.text for e in ET.fromstring(body).iter("description")]
        print(f"POST requests.xml without a location: {status}, {errors}")
        status, body = _fetch(f"{base}/services/999.json")
        print(f"GET services/999.json: {status}, {json.loads(body)[0]['description']}")
    finally:
        server.shutdown()
        server.server_close()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="An Open311 GeoReport v2 example server.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8311)
    parser.add_argument("--db", default="memory://", help="database URL (default memory://)")
    parser.add_argument("--api-key", default=None, help="a key POSTs must carry")
    parser.add_argument("--check", action="store_true", help="ask a few things and stop")
    args = parser.parse_args(argv)
    with open_crm(args.db) as crm:
        if args.check:
            check(crm, args.api_key)
            return 0
        keys = {args.api_key: "client"} if args.api_key else None
        server = serve(crm, args.host, args.port, keys)
        print(f"Open311 GeoReport v2 on http://{args.host}:{server.server_port}/services.xml")
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            pass
        finally:
            server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
