"""Seed 002's examples as data: the literal `parameters`, the request the seed says
results, and the stream/call declaration that should build an equivalent object.

Shared by the request tests (the harvester's reading) and the simulator tests (its
own reading, over HTTP), so both are held to the same seed text.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from harvester.sources.custom.request import CustomCall

__all__ = ["SEED_EXAMPLES", "SeedExample"]

JSON = {"Content-Type": "application/json"}


@dataclass(frozen=True)
class SeedExample:
    name: str
    literal: dict[str, Any]  # the parameters object exactly as the seed writes it
    method: str  # the request the seed states (or its tables imply)
    url: str
    headers: dict[str, str]
    body: Any
    call: CustomCall  # the same request declared as a stream or `call --custom` would
    built: dict[str, Any]  # what build_parameters must make of `call`


SEED_EXAMPLES = [
    SeedExample(
        "syntax: stripe charge (rest params → POST JSON body)",
        {"_url": "https://api.stripe.com/v1/charges", "amount": 1000, "currency": "usd"},
        "POST", "https://api.stripe.com/v1/charges", JSON, {"amount": 1000, "currency": "usd"},
        CustomCall("https://api.stripe.com/v1/charges", body={"amount": 1000, "currency": "usd"}),
        {"_url": "https://api.stripe.com/v1/charges", "_method": "POST", "_body": {"amount": 1000, "currency": "usd"}},
    ),
    SeedExample(
        "plain GET (no params)",
        {"_url": "https://slack.com/api/auth.test"},
        "GET", "https://slack.com/api/auth.test", {}, None,
        CustomCall("https://slack.com/api/auth.test"),
        {"_url": "https://slack.com/api/auth.test"},
    ),
    SeedExample(
        "GET with query (a): baked into the URL",
        {"_url": "https://api.stripe.com/v1/charges?limit=10&status=succeeded"},
        "GET", "https://api.stripe.com/v1/charges?limit=10&status=succeeded", {}, None,
        CustomCall("https://api.stripe.com/v1/charges?limit=10&status=succeeded"),
        {"_url": "https://api.stripe.com/v1/charges?limit=10&status=succeeded"},
    ),
    SeedExample(
        "GET with query (b): params with _method GET",
        {"_url": "https://api.stripe.com/v1/charges", "_method": "GET", "limit": 10, "status": "succeeded"},
        "GET", "https://api.stripe.com/v1/charges?limit=10&status=succeeded", {}, None,
        CustomCall("https://api.stripe.com/v1/charges", method="GET", query={"limit": 10, "status": "succeeded"}),
        {"_url": "https://api.stripe.com/v1/charges", "_method": "GET", "_query": {"limit": 10, "status": "succeeded"}},
    ),
    SeedExample(
        "POST with JSON body (default for non-empty rest params)",
        {"_url": "https://api.stripe.com/v1/customers", "email": "ana@example.com", "name": "Ana"},
        "POST", "https://api.stripe.com/v1/customers", JSON, {"email": "ana@example.com", "name": "Ana"},
        CustomCall("https://api.stripe.com/v1/customers", body={"email": "ana@example.com", "name": "Ana"}),
        {"_url": "https://api.stripe.com/v1/customers", "_method": "POST",
         "_body": {"email": "ana@example.com", "name": "Ana"}},
    ),
    SeedExample(
        "POST with both query and body",
        {"_url": "https://api.example.com/v1/items", "_method": "POST", "_query": {"dry_run": True},
         "_body": {"name": "Widget", "price": 99}},
        "POST", "https://api.example.com/v1/items?dry_run=true", JSON, {"name": "Widget", "price": 99},
        CustomCall("https://api.example.com/v1/items", method="POST", query={"dry_run": True},
                   body={"name": "Widget", "price": 99}),
        {"_url": "https://api.example.com/v1/items", "_method": "POST", "_query": {"dry_run": True},
         "_body": {"name": "Widget", "price": 99}},
    ),
    SeedExample(
        "DELETE with a query param",
        {"_url": "https://api.example.com/v1/items/123", "_method": "DELETE", "reason": "duplicate"},
        "DELETE", "https://api.example.com/v1/items/123?reason=duplicate", {}, None,
        CustomCall("https://api.example.com/v1/items/123", method="DELETE", query={"reason": "duplicate"}),
        {"_url": "https://api.example.com/v1/items/123", "_method": "DELETE", "_query": {"reason": "duplicate"}},
    ),
    SeedExample(
        "custom header overrides the default Content-Type",
        {"_url": "https://api.example.com/v1/events",
         "_headers": {"Content-Type": "application/vnd.events+json", "X-Trace-Id": "abc"}, "_body": {"type": "ping"}},
        "POST", "https://api.example.com/v1/events",
        {"Content-Type": "application/vnd.events+json", "X-Trace-Id": "abc"}, {"type": "ping"},
        CustomCall("https://api.example.com/v1/events",
                   headers={"Content-Type": "application/vnd.events+json", "X-Trace-Id": "abc"}, body={"type": "ping"}),
        {"_url": "https://api.example.com/v1/events", "_method": "POST", "_body": {"type": "ping"},
         "_headers": {"Content-Type": "application/vnd.events+json", "X-Trace-Id": "abc"}},
    ),
    SeedExample(
        "notes: the existing query string is preserved, _query appended",
        {"_url": "https://api.x.com/items?source=cli", "_query": {"page": 2}},
        "GET", "https://api.x.com/items?source=cli&page=2", {}, None,
        CustomCall("https://api.x.com/items?source=cli", query={"page": 2}),
        {"_url": "https://api.x.com/items?source=cli", "_query": {"page": 2}},
    ),
]
