"""The REST route table is the protos' ``google.api.http`` annotations, no more and no less."""

from __future__ import annotations

import importlib
import pkgutil
import re

import flexinference.v1
import httpx
import pytest
from google.api import annotations_pb2, http_pb2
from google.protobuf import descriptor, descriptor_pool

from flexgrpc.rest.routes import Matched, RouteTable, WrongMethod
from flexgrpc.rest.template import TemplateError, parse_template
from flexgrpc.server import SERVICE_NAMES
from tests.compat.conftest import RestServer


def _contract_methods() -> list[descriptor.MethodDescriptor]:
    """Every method of every service in the flexinference.v1 package."""
    methods = []
    for module in pkgutil.iter_modules(flexinference.v1.__path__):
        if not module.name.endswith("_pb2"):
            continue
        file = importlib.import_module(f"flexinference.v1.{module.name}").DESCRIPTOR
        for service in file.services_by_name.values():
            methods.extend(service.methods)
    return methods


def _bindings(rule: http_pb2.HttpRule) -> list[tuple[str, str]]:
    kind = rule.WhichOneof("pattern")
    assert kind is not None
    verb, path = (
        (rule.custom.kind, rule.custom.path) if kind == "custom" else (kind, getattr(rule, kind))
    )
    found = [(verb.upper(), path)]
    for extra in rule.additional_bindings:
        found.extend(_bindings(extra))
    return found


def _annotated() -> set[tuple[str, str, str]]:
    expected = set()
    for method in _contract_methods():
        options = method.GetOptions()
        if options.HasExtension(annotations_pb2.http):
            for verb, path in _bindings(options.Extensions[annotations_pb2.http]):
                expected.add((verb, path, method.full_name))
    return expected


def _served_table() -> RouteTable:
    pool = descriptor_pool.Default()
    return RouteTable.from_services(pool.FindServiceByName(name) for name in SERVICE_NAMES)


def test_every_annotated_rpc_has_a_route_and_every_route_an_annotation() -> None:
    table = _served_table()
    served = {(r.http_method, r.template.source, r.method.full_name) for r in table.routes}
    assert served == _annotated()
    paths = {(verb, path) for verb, path, _ in served}
    for surface in ("/v1/responses", "/v1/chat/completions", "/v1/messages", "/v1/interactions"):
        assert ("POST", surface) in paths  # SPEC §2's four surfaces
    for version in ("v1beta", "v1"):  # and Gemini's generateContent, with its counting
        for verb in ("generateContent", "streamGenerateContent", "countTokens"):
            assert ("POST", f"/{version}/models/{{model}}:{verb}") in paths
    assert ("POST", "/v1/messages/count_tokens") in paths
    assert ("GET", "/v1/{name=organizations/*}") in paths


def _sample_path(template: str) -> str:
    def fill(match: re.Match[str]) -> str:
        pattern = match[2] or "*"
        return pattern.replace("**", "x/y").replace("*", "x")

    return re.sub(r"\{([^}=]+)(?:=([^}]*))?\}", fill, template)


def test_every_route_reaches_its_rpc_over_http(rest: RestServer) -> None:
    with httpx.Client(base_url=rest.url, timeout=30) as http:
        for route in _served_table().routes:
            path = _sample_path(route.template.source)
            body = b"{}" if route.body else None
            reply = http.request(route.http_method, path, content=body)
            where = f"{route.http_method} {path} ({route.method.full_name})"
            assert reply.status_code not in (404, 405) or "REST route" not in reply.text, where
            assert reply.status_code != 500, where
            if route.grpc_path != "/flexinference.v1.BillingService/HandleStripeWebhook":
                assert reply.status_code == 401, (where, reply.text)  # through the auth interceptor


@pytest.mark.parametrize(
    ("template", "path", "variables"),
    [
        ("/v1/responses", "/v1/responses", {}),
        ("/v1/{name=organizations/*}", "/v1/organizations/org_1", {"name": "organizations/org_1"}),
        (
            "/v1/{parent=organizations/*}/usageRecords:summarize",
            "/v1/organizations/-/usageRecords:summarize",
            {"parent": "organizations/-"},
        ),
        (
            "/v1/billingPeriods/{period}:close",
            "/v1/billingPeriods/2026-11:close",
            {"period": "2026-11"},
        ),
        ("/v1/{name=files/**}", "/v1/files/a/b/c", {"name": "files/a/b/c"}),
        ("/v1/things/{thing.id}", "/v1/things/a%2Fb", {"thing.id": "a/b"}),
    ],
)
def test_templates_match_and_decode_variables(
    template: str, path: str, variables: dict[str, str]
) -> None:
    assert parse_template(template).match(path) == variables


@pytest.mark.parametrize(
    ("template", "path"),
    [
        ("/v1/{name=organizations/*}", "/v1/organizations/a/b"),
        ("/v1/{name=organizations/*}", "/v1/projects/a"),
        ("/v1/billingPeriods/{period}:close", "/v1/billingPeriods/2026-11"),
        ("/v1/responses", "/v1/responses/"),
    ],
)
def test_templates_refuse_other_paths(template: str, path: str) -> None:
    assert parse_template(template).match(path) is None


@pytest.mark.parametrize(
    "template",
    ["v1/x", "/v1/{a", "/v1/{a}/{a}", "/v1/**/x", "/v1/{a={b}}", "/v1/x:", "/v1/{1a}"],
)
def test_malformed_templates_are_refused(template: str) -> None:
    with pytest.raises(TemplateError):
        parse_template(template)


def test_a_verb_route_wins_over_a_plain_variable_route() -> None:
    table = _served_table()
    found = table.match("GET", "/v1/organizations/-/usageRecords:summarize")
    assert isinstance(found, Matched)
    assert found.route.method.name == "SummarizeUsage"
    plain = table.match("GET", "/v1/organizations/-/usageRecords")
    assert isinstance(plain, Matched)
    assert plain.route.method.name == "ListUsageRecords"
    wrong = table.match("PUT", "/v1/organizations/-")
    assert isinstance(wrong, WrongMethod)
    assert wrong.allowed == ("GET", "PATCH")
    assert table.match("GET", "/v2/organizations/-") is None


def _synthetic_service() -> descriptor.ServiceDescriptor:
    """A service that exists only here: routes come from its annotations, not from code."""
    from google.protobuf import descriptor_pb2

    name = "flexgrpc_test/synthetic.proto"
    pool = descriptor_pool.Default()
    try:
        return pool.FindServiceByName("flexgrpc_test.Things")
    except KeyError:
        pass
    file = descriptor_pb2.FileDescriptorProto(name=name, package="flexgrpc_test", syntax="proto3")
    thing = file.message_type.add(name="Thing")
    thing.field.add(name="name", number=1, type=9, label=1, json_name="name")
    thing.field.add(name="page_size", number=2, type=5, label=1, json_name="pageSize")
    service = file.service.add(name="Things")
    method = service.method.add(
        name="GetThing", input_type=".flexgrpc_test.Thing", output_type=".flexgrpc_test.Thing"
    )
    rule = http_pb2.HttpRule(get="/v1/{name=things/*}")
    rule.additional_bindings.add(get="/v1beta/{name=things/*}")
    rule.additional_bindings.add(
        custom=http_pb2.CustomHttpPattern(kind="SEARCH", path="/v1/things")
    )
    method.options.Extensions[annotations_pb2.http].CopyFrom(rule)
    pool.Add(file)
    return pool.FindServiceByName("flexgrpc_test.Things")


def test_an_annotated_method_gets_its_routes_with_no_handler_code() -> None:
    from flexgrpc.rest.transcode import build_request

    table = RouteTable.from_services([_synthetic_service()])
    assert {(r.http_method, r.template.source) for r in table.routes} == {
        ("GET", "/v1/{name=things/*}"),
        ("GET", "/v1beta/{name=things/*}"),
        ("SEARCH", "/v1/things"),
    }
    found = table.match("GET", "/v1beta/things/t1")
    assert isinstance(found, Matched)
    request = build_request(found.route, found.variables, b"page_size=7&ignored=1", b"", "")
    assert (request.name, request.page_size) == ("things/t1", 7)
