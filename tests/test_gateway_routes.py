"""The Envoy config rendered from deploy/kubernetes/routing.yaml: the real Envoy accepts it, the
order of the rules in the manifest does not change it (Gateway API precedence), and any field
the renderer does not translate is refused by name, so the manifests cannot drift from the tests.
"""

import copy
import os
import re
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from helpers.serving.envoy import INSTALL_HINT, find_envoy
from helpers.serving.gateway_routes import ROUTING_MANIFEST, render_envoy_bootstrap

LISTEN_PORTS = {"grpc": 19000, "rest": 18000}
ENDPOINTS = {9000: [19001, 19002, 19003], 8000: [18001, 18002, 18003]}
Documents = list[dict[str, Any]]


def manifest_documents() -> Documents:
    """The Gateway API objects of the manifest, as plain data."""
    return [d for d in yaml.safe_load_all(ROUTING_MANIFEST.read_text(encoding="utf-8")) if d]


def named(documents: Documents, kind: str, name: str) -> dict[str, Any]:
    """The object of `kind` called `name`."""
    [found] = [d for d in documents if d["kind"] == kind and d["metadata"]["name"] == name]
    return found


def render(tmp_path: Path, documents: Documents) -> dict[str, Any]:
    """The bootstrap rendered from `documents` written as a manifest."""
    manifest = tmp_path / "routing.yaml"
    manifest.write_text(yaml.safe_dump_all(documents), encoding="utf-8")
    return render_envoy_bootstrap(LISTEN_PORTS, ENDPOINTS, tmp_path / "access.log", manifest)


def routes_of(bootstrap: dict[str, Any], listener: str) -> list[dict[str, Any]]:
    """The Envoy routes of `listener`, in the order Envoy tries them."""
    [found] = [x for x in bootstrap["static_resources"]["listeners"] if x["name"] == listener]
    manager = found["filter_chains"][0]["filters"][0]["typed_config"]
    return manager["route_config"]["virtual_hosts"][0]["routes"]


def seconds(duration: str) -> float:
    """Envoy's "N.NNNs" in seconds."""
    assert duration.endswith("s")
    return float(duration[:-1])


@pytest.mark.skipif(find_envoy() is None and not os.environ.get("CI"), reason=INSTALL_HINT)
@pytest.mark.parametrize("variant", ["as committed", "with the optional fields"])
def test_the_real_envoy_accepts_the_rendered_config(tmp_path, variant):
    documents = manifest_documents()
    if variant != "as committed":
        rest_policy = named(documents, "BackendTrafficPolicy", "sticky-sequences-rest")["spec"]
        body = {"type": "Inline", "inline": '{"error": "down"}'}
        rest_policy["responseOverride"] = [
            {
                "match": {"statusCodes": [{"type": "Value", "value": 503}]},
                "response": {"contentType": "application/json", "body": body},
            }
        ]
        grpc_policy = named(documents, "BackendTrafficPolicy", "sticky-sequences-grpc")["spec"]
        grpc_policy["timeout"]["http"].update(streamIdleTimeout="24h", maxStreamDuration="0s")
        grpc_policy["loadBalancer"]["consistentHash"]["tableSize"] = 65537
    config = tmp_path / "envoy.yaml"
    config.write_text(yaml.safe_dump(render(tmp_path, documents)), encoding="utf-8")
    executable = str(find_envoy())
    checked = subprocess.run(
        [executable, "--mode", "validate", "-c", str(config), "--disable-hot-restart"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "OK" in checked.stdout


def test_the_order_of_the_rules_in_the_manifest_does_not_matter(tmp_path):
    documents = manifest_documents()
    shuffled = copy.deepcopy(documents)
    for kind, name in (("GRPCRoute", "model-server-grpc"), ("HTTPRoute", "model-server-rest")):
        named(shuffled, kind, name)["spec"]["rules"].reverse()

    def without_names(bootstrap: dict[str, Any], listener: str) -> list[dict[str, Any]]:
        """The listener's routes without their names (which say where the rule was written)."""
        return [{k: v for k, v in r.items() if k != "name"} for r in routes_of(bootstrap, listener)]

    for listener in LISTEN_PORTS:
        expected = without_names(render(tmp_path, documents), listener)
        assert without_names(render(tmp_path, shuffled), listener) == expected
        # The catch-all goes last; a match with the header before the same match without it.
        assert expected[-1]["match"] == {"prefix": "/"}
        paths = [r["match"].get("path", r["match"].get("safe_regex")) for r in expected]
        for position, route in enumerate(expected):
            if "headers" in route["match"]:
                same = paths.index(paths[position])
                assert same == position, "a match without the header came first"


def test_streams_are_not_cut_by_a_route_timeout_and_nothing_is_retried(tmp_path):
    documents = manifest_documents()
    bootstrap = render(tmp_path, documents)
    for listener in LISTEN_PORTS:
        for route in routes_of(bootstrap, listener):
            if "route" in route:
                # Envoy's default route timeout (15 s) would end a ModelStreamInfer stream.
                assert seconds(route["route"]["timeout"]) >= 3600
                assert "retry_policy" not in route["route"]
    policy = named(documents, "BackendTrafficPolicy", "sticky-sequences-grpc")["spec"]
    policy["timeout"]["http"]["requestTimeout"] = "1h30m"
    [stream] = [
        r
        for r in routes_of(render(tmp_path, documents), "grpc")
        if r["match"].get("path") == "/inference.GRPCInferenceService/ModelStreamInfer"
        and "route" in r
    ]
    assert seconds(stream["route"]["timeout"]) == 90 * 60


def idle_limits(bootstrap: dict[str, Any], listener: str) -> set[float | None]:
    """The stream idle limits, in seconds, of the listener's routes towards the replicas."""
    actions = [r["route"] for r in routes_of(bootstrap, listener) if "route" in r]
    return {seconds(a["idle_timeout"]) if "idle_timeout" in a else None for a in actions}


def test_a_quiet_stream_outlives_envoys_five_minute_idle_limit(tmp_path):
    # The gRPC policy sets streamIdleTimeout; the REST one only a request timeout, from which
    # Envoy Gateway derives the idle limit, and so does the renderer.
    bootstrap = render(tmp_path, manifest_documents())
    assert idle_limits(bootstrap, "grpc") == {24 * 3600}
    assert idle_limits(bootstrap, "rest") == {24 * 3600}


# Envoy Gateway v1.9's idleTimeout() in internal/xds/translator/route.go: an explicit
# streamIdleTimeout wins; otherwise the request timeout, raised to at least one hour; 0 disables.
IDLE_CASES = {
    "a short request timeout": ({"requestTimeout": "10m"}, None, 3600),
    "a long request timeout": ({"requestTimeout": "30h"}, None, 30 * 3600),
    "a disabled request timeout": ({"requestTimeout": "0s"}, None, 0),
    "an explicit idle timeout": ({"requestTimeout": "24h", "streamIdleTimeout": "2m"}, None, 120),
    "the route's own request timeout": ({"requestTimeout": "10m"}, "2h", 2 * 3600),
    "no timeouts": (None, None, None),
}


@pytest.mark.parametrize("case", IDLE_CASES)
def test_the_idle_limit_follows_envoy_gateways_rule(tmp_path, case):
    timeouts, route_request_timeout, expected = IDLE_CASES[case]
    documents = manifest_documents()
    policy = named(documents, "BackendTrafficPolicy", "sticky-sequences-rest")["spec"]
    if timeouts is None:
        del policy["timeout"]
    else:
        policy["timeout"]["http"] = timeouts
    if route_request_timeout is not None:
        for rule in named(documents, "HTTPRoute", "model-server-rest")["spec"]["rules"]:
            if "backendRefs" in rule:
                rule["timeouts"] = {"request": route_request_timeout}
    assert idle_limits(render(tmp_path, documents), "rest") == {expected}


def test_the_pods_services_become_the_replicas_and_are_hashed_by_the_header(tmp_path):
    bootstrap = render(tmp_path, manifest_documents())
    clusters = {c["name"]: c for c in bootstrap["static_resources"]["clusters"]}
    assert len(clusters) == len(ENDPOINTS)
    for cluster in clusters.values():
        hosts = cluster["load_assignment"]["endpoints"][0]["lb_endpoints"]
        ports = [h["endpoint"]["address"]["socket_address"]["port_value"] for h in hosts]
        assert ports in ENDPOINTS.values()  # the n-th pod's Service is the n-th replica
        assert cluster["lb_policy"] == "MAGLEV"
        options = next(iter(cluster["typed_extension_protocol_options"].values()))
        http2 = "http2_protocol_options" in options["explicit_http_config"]
        assert http2 == (ports == ENDPOINTS[9000])  # h2c to gRPC, HTTP/1.1 to REST
    for listener in LISTEN_PORTS:
        for route in routes_of(bootstrap, listener):
            if "route" in route:
                hashing = [{"header": {"header_name": "x-sequence-id"}}]
                assert route["route"]["hash_policy"] == hashing


def _rule(documents: Documents, kind: str, number: int) -> dict[str, Any]:
    """Rule `number` of the manifest's GRPCRoute or HTTPRoute."""
    name = "model-server-grpc" if kind == "GRPCRoute" else "model-server-rest"
    return named(documents, kind, name)["spec"]["rules"][number]


def _policy(documents: Documents, which: str) -> dict[str, Any]:
    """The spec of the gRPC or REST BackendTrafficPolicy."""
    return named(documents, "BackendTrafficPolicy", f"sticky-sequences-{which}")["spec"]


REFUSED: dict[str, tuple[Callable[[Documents], object], str]] = {
    "an unknown rule field": (
        lambda d: _rule(d, "GRPCRoute", 0).update(sessionPersistence={"type": "Header"}),
        "GRPCRoute model-server-grpc.spec.rules[0].sessionPersistence",
    ),
    "an unknown filter kind": (
        lambda d: _rule(d, "HTTPRoute", 1)["filters"].append({"type": "RequestMirror"}),
        "HTTPRoute model-server-rest.spec.rules[1].filters[1].type",
    ),
    "a fourth pod for three replicas": (
        lambda d: _rule(d, "GRPCRoute", 0)["backendRefs"].append({"name": "b", "port": 9000}),
        "GRPCRoute model-server-grpc.spec.rules[0].backendRefs: 4 pods, but 3 local replicas",
    ),
    "other pods in another rule": (
        lambda d: _rule(d, "HTTPRoute", 3)["backendRefs"][0].update(name="elsewhere"),
        "HTTPRoute model-server-rest.spec.rules[3].backendRefs: not the Services",
    ),
    "unequal weights": (
        lambda d: _rule(d, "HTTPRoute", 0)["backendRefs"][0].update(weight=2),
        "HTTPRoute model-server-rest.spec.rules[0].backendRefs: one port and equal weights",
    ),
    "hashing the pods' own addresses": (
        lambda d: _policy(d, "grpc").pop("routingType"),
        "sticky-sequences-grpc.spec.routingType: None is not supported",
    ),
    "retries": (
        lambda d: _policy(d, "grpc")["retry"].update(numRetries=2),
        "sticky-sequences-grpc.spec.retry.numRetries",
    ),
    "a hash on the client address": (
        lambda d: _policy(d, "rest")["loadBalancer"]["consistentHash"].update(type="SourceIP"),
        "sticky-sequences-rest.spec.loadBalancer.consistentHash.type",
    ),
    "an unknown kind": (
        lambda d: d.append({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "x"}}),
        "kind: 'Service' is not supported",
    ),
    "hostnames": (
        lambda d: named(d, "HTTPRoute", "model-server-rest")["spec"].update(hostnames=["a"]),
        "HTTPRoute model-server-rest.spec.hostnames",
    ),
    "an unknown direct response field": (
        lambda d: named(d, "HTTPRouteFilter", "per-replica-introspection")["spec"][
            "directResponse"
        ].update(header={"x": "y"}),
        "HTTPRouteFilter per-replica-introspection.spec.directResponse.header",
    ),
    "a regex method match": (
        lambda d: _rule(d, "GRPCRoute", 1)["matches"][0]["method"].update(type="RegularExpression"),
        "GRPCRoute model-server-grpc.spec.rules[1].matches[0].method.type",
    ),
    "a connection timeout": (
        lambda d: _policy(d, "rest")["timeout"]["http"].update(connectionIdleTimeout="1s"),
        "sticky-sequences-rest.spec.timeout.http.connectionIdleTimeout",
    ),
    "a duration that is not one": (
        lambda d: _policy(d, "rest")["timeout"]["http"].update(requestTimeout="1d"),
        "sticky-sequences-rest.spec.timeout.http.requestTimeout",
    ),
}


@pytest.mark.parametrize("change", list(REFUSED))
def test_what_the_renderer_does_not_translate_is_refused_by_name(tmp_path, change):
    documents = manifest_documents()
    render(tmp_path, documents)  # the manifest as committed renders
    mutate, field_name = REFUSED[change]
    mutate(documents)
    with pytest.raises(ValueError, match=re.escape(field_name)):
        render(tmp_path, documents)
