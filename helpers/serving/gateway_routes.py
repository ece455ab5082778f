"""The Gateway API routing objects of the Kubernetes manifests, rendered as a local Envoy config.

`deploy/kubernetes/routing.yaml` asks Envoy Gateway for sticky routing by `x-sequence-id`; the
local replicas (`helpers.serving.replicas` with `proxy="envoy"`) run Envoy with exactly those rules,
rendered here into a static bootstrap the way Envoy Gateway would translate them. Anything in the
objects that this renderer does not translate is refused with the field's name, so the manifests
cannot ask for something the local tests never exercised.
"""

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from helpers.serving.launcher import LOOPBACK

ROUTING_MANIFEST = Path(__file__).resolve().parents[2] / "deploy" / "kubernetes" / "routing.yaml"
GATEWAY_GROUP = "gateway.networking.k8s.io"
GATEWAY_API = f"{GATEWAY_GROUP}/v1"
ENVOY_GATEWAY_API = "gateway.envoyproxy.io/v1alpha1"
ENVOY_GATEWAY_CONTROLLER = "gateway.envoyproxy.io/gatewayclass-controller"
API_VERSIONS = {
    "GatewayClass": GATEWAY_API,
    "Gateway": GATEWAY_API,
    "GRPCRoute": GATEWAY_API,
    "HTTPRoute": GATEWAY_API,
    "HTTPRouteFilter": ENVOY_GATEWAY_API,
    "BackendTrafficPolicy": ENVOY_GATEWAY_API,
}
# One JSON object per request in the access log; `helpers.serving.envoy` reads these keys.
ACCESS_LOG_FIELDS = {
    "port": "%DOWNSTREAM_LOCAL_PORT%",
    "sequence_id": "%REQ(X-SEQUENCE-ID)%",
    "upstream": "%UPSTREAM_HOST%",
    "status": "%RESPONSE_CODE%",
    "grpc_status": "%GRPC_STATUS_NUMBER%",
    "flags": "%RESPONSE_FLAGS%",
    "path": "%REQ(:PATH)%",
}
HTTP_PROTOCOL_OPTIONS = "envoy.extensions.upstreams.http.v3.HttpProtocolOptions"
HCM = "envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager"
ROUTER = "envoy.extensions.filters.http.router.v3.Router"
FILE_LOG = "envoy.extensions.access_loggers.file.v3.FileAccessLog"
PATH_RANK = {"Exact": 0, "RegularExpression": 1, "PathPrefix": 2}
DURATION = re.compile(r"([0-9]{1,5})(h|ms|m|s)")
SECONDS = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}


class _Fields:
    """One object of the manifest, read field by field; whatever is left unread is refused."""

    def __init__(self, value: object, where: str) -> None:
        if not isinstance(value, dict):
            raise ValueError(f"{where}: expected a mapping, got {value!r}")
        self.where = where
        self._left = dict(value)

    def get(self, key: str, default: Any = None) -> Any:
        """The field `key` (marked as understood), or `default` when absent."""
        return self._left.pop(key, default)

    def need(self, key: str) -> Any:
        """The field `key`, which must be present."""
        if key not in self._left:
            raise ValueError(f"{self.where}.{key} is required")
        return self._left.pop(key)

    def expect(self, key: str, allowed: Sequence[object], default: object = None) -> Any:
        """The field `key`, which must be one of `allowed` (absent means `default`)."""
        value = self._left.pop(key, default)
        if value not in allowed:
            raise ValueError(f"{self.where}.{key}: {value!r} is not supported (only {allowed})")
        return value

    def sub(self, key: str) -> "_Fields | None":
        """The mapping at `key`, to be read the same way, or None when absent."""
        if key not in self._left:
            return None
        return self.need_sub(key)

    def need_sub(self, key: str) -> "_Fields":
        """The mapping at `key`, which must be present, to be read the same way."""
        return _Fields(self.need(key), f"{self.where}.{key}")

    def items(self, key: str) -> list["_Fields"]:
        """The list of mappings at `key` (absent: empty)."""
        values = self._left.pop(key, [])
        if not isinstance(values, list):
            raise ValueError(f"{self.where}.{key}: expected a list")
        return [_Fields(v, f"{self.where}.{key}[{n}]") for n, v in enumerate(values)]

    def done(self) -> None:
        """Refuse the fields nobody read."""
        if self._left:
            names = ", ".join(f"{self.where}.{key}" for key in self._left)
            raise ValueError(f"not supported by the Envoy renderer: {names}")


@dataclass
class _Backend:
    """An Envoy cluster: the pods' Services' `port`, spoken to in HTTP/2 (gRPC) or HTTP/1.1."""

    cluster: str
    port: int
    http2: bool


def _seconds(value: object, where: str) -> str:
    """A Gateway API duration ("1h30m", "0s", "500ms") as Envoy's "N.NNNs"."""
    text = str(value)
    parts = DURATION.findall(text)
    if not parts or "".join(number + unit for number, unit in parts) != text:
        raise ValueError(f"{where}: {value!r} is not a Gateway API duration")
    return f"{sum(int(number) * SECONDS[unit] for number, unit in parts):.3f}s"


def _header_matchers(match: _Fields) -> list[dict[str, Any]]:
    """Gateway API header matches as Envoy header matchers."""
    matchers = []
    for header in match.items("headers"):
        kind = header.expect("type", ["Exact", "RegularExpression"], "Exact")
        value = str(header.need("value"))
        string = {"exact": value} if kind == "Exact" else {"safe_regex": {"regex": value}}
        matchers.append({"name": header.need("name"), "string_match": string})
        header.done()
    return matchers


def _path_match(kind: str, value: str) -> dict[str, Any]:
    """An Envoy route match for a Gateway API path match (PathPrefix as Envoy Gateway does)."""
    if kind == "Exact":
        return {"path": value}
    if kind == "RegularExpression":
        return {"safe_regex": {"regex": value}}
    if value.endswith("/"):
        return {"prefix": value}
    return {"path_separated_prefix": value}


def _grpc_match(match: _Fields) -> tuple[str, str, dict[str, Any]]:
    """(path kind, path, Envoy match) of a GRPCRoute match: a method is an exact path."""
    method = match.sub("method")
    if method is None:
        return "PathPrefix", "/", {"prefix": "/"}
    method.expect("type", ["Exact"], "Exact")
    path = f"/{method.need('service')}/{method.need('method')}"
    method.done()
    return "Exact", path, {"path": path}


def _http_match(match: _Fields) -> tuple[str, str, dict[str, Any]]:
    """(path kind, path, Envoy match) of an HTTPRoute match."""
    path = match.sub("path")
    if path is None:
        return "PathPrefix", "/", {"prefix": "/"}
    kind = path.expect("type", list(PATH_RANK), "PathPrefix")
    value = str(path.get("value", "/"))
    path.done()
    return kind, value, _path_match(kind, value)


def _set_header(name: str, value: object) -> dict[str, Any]:
    """A response header that replaces any the answer already has."""
    return {
        "header": {"key": str(name), "value": str(value)},
        "append_action": "OVERWRITE_IF_EXISTS_OR_ADD",
    }


@dataclass
class _Policy:
    """What a BackendTrafficPolicy asks of the routes it targets."""

    hash_header: str | None = None
    table_size: int | None = None
    request_timeout: str | None = None
    max_stream_duration: str | None = None
    stream_idle_timeout: str | None = None
    local_replies: list[dict[str, Any]] = field(default_factory=list)


NO_POLICY = _Policy()


def _policy(policy: _Fields) -> tuple[list[tuple[str, str]], _Policy]:
    """The routes a BackendTrafficPolicy targets, and what it asks of them."""
    spec = policy.need_sub("spec")
    targets = []
    for target in spec.items("targetRefs"):
        target.expect("group", ["gateway.networking.k8s.io"])
        kind = target.expect("kind", ["GRPCRoute", "HTTPRoute"])
        targets.append((kind, str(target.need("name"))))
        target.done()
    if not targets:
        raise ValueError(f"{spec.where}.targetRefs is required")
    settings = _Policy()
    # The local replicas have fixed addresses; so do the pods' own Services (their cluster IPs),
    # but not the pods: with Endpoint routing a pod restarted at a new address would take over
    # other pods' sequences, which the local tests would never see.
    spec.expect("routingType", ["Service"])
    balancer = spec.sub("loadBalancer")
    if balancer is not None:
        balancer.expect("type", ["ConsistentHash"])
        hashing = balancer.need_sub("consistentHash")
        hashing.expect("type", ["Header"])
        header = hashing.need_sub("header")
        settings.hash_header = str(header.need("name"))
        table_size = hashing.get("tableSize")
        settings.table_size = None if table_size is None else int(table_size)
        header.done()
        hashing.done()
        balancer.done()
    timeout = spec.sub("timeout")
    if timeout is not None:
        http = timeout.need_sub("http")
        if (value := http.get("requestTimeout")) is not None:
            settings.request_timeout = _seconds(value, f"{http.where}.requestTimeout")
        if (value := http.get("maxStreamDuration")) is not None:
            settings.max_stream_duration = _seconds(value, f"{http.where}.maxStreamDuration")
        if (value := http.get("streamIdleTimeout")) is not None:
            settings.stream_idle_timeout = _seconds(value, f"{http.where}.streamIdleTimeout")
        http.done()
        timeout.done()
    retry = spec.sub("retry")
    if retry is not None:  # Envoy retries nothing unless told: only "no retries" is understood
        retry.expect("numRetries", [0])
        retry.done()
    settings.local_replies = [_response_override(o) for o in spec.items("responseOverride")]
    spec.done()
    return targets, settings


def _response_override(override: _Fields) -> dict[str, Any]:
    """A local reply mapper: Envoy's own answer with this status gets this body instead.

    Envoy Gateway rewrites a backend's own answer with that status as well: a model server's 503
    (sequence limit reached, connection cap, not ready) keeps its own body here.
    """
    match = override.need_sub("match")
    codes = []
    for code in match.items("statusCodes"):
        code.expect("type", ["Value"], "Value")
        codes.append(int(code.need("value")))
        code.done()
    if len(codes) != 1:
        raise ValueError(f"{match.where}.statusCodes: exactly one status code is supported")
    match.done()
    response = override.need_sub("response")
    body = response.need_sub("body")
    body.expect("type", ["Inline"], "Inline")
    text = str(body.need("inline"))
    body.done()
    content_type = str(response.get("contentType", "text/plain"))
    response.done()
    override.done()
    comparison = {
        "op": "EQ",
        "value": {"default_value": codes[0], "runtime_key": "gateway_routes.response_override"},
    }
    return {
        "filter": {"status_code_filter": {"comparison": comparison}},
        "body": {"inline_string": text},
        "body_format_override": {
            "text_format_source": {"inline_string": "%LOCAL_REPLY_BODY%"},
            "content_type": content_type,
        },
    }


def _read_objects(manifest: Path) -> dict[str, dict[str, _Fields]]:
    """The manifest's objects by kind and name (kinds and API versions checked)."""
    objects: dict[str, dict[str, _Fields]] = {kind: {} for kind in API_VERSIONS}
    with manifest.open(encoding="utf-8") as stream:
        documents = [d for d in yaml.safe_load_all(stream) if d is not None]
    for number, document in enumerate(documents):
        fields = _Fields(document, f"{manifest.name} document {number}")
        kind = fields.expect("kind", list(API_VERSIONS))
        fields.expect("apiVersion", [API_VERSIONS[kind]])
        metadata = fields.need_sub("metadata")
        name = str(metadata.need("name"))
        for key in ("namespace", "labels", "annotations"):
            metadata.get(key)  # they do not change the routing
        metadata.done()
        fields.where = f"{kind} {name}"
        if name in objects[kind]:
            raise ValueError(f"{fields.where} appears twice")
        objects[kind][name] = fields
    return objects


def _gateway(objects: Mapping[str, Mapping[str, _Fields]]) -> tuple[str, dict[str, set[str]]]:
    """The one Gateway's name, and the route kinds each of its listeners takes."""
    for gateway_class in objects["GatewayClass"].values():
        spec = gateway_class.need_sub("spec")
        spec.expect("controllerName", [ENVOY_GATEWAY_CONTROLLER])
        spec.get("description")
        spec.done()
        gateway_class.done()
    if len(objects["Gateway"]) != 1:
        raise ValueError("exactly one Gateway is supported")
    [(name, gateway)] = objects["Gateway"].items()
    spec = gateway.need_sub("spec")
    spec.expect("gatewayClassName", list(objects["GatewayClass"]))
    listeners: dict[str, set[str]] = {}
    for listener in spec.items("listeners"):
        listener_name = str(listener.need("name"))
        listener.expect("protocol", ["HTTP"])
        listener.need("port")  # in the cluster; locally `listen_ports` says where
        kinds = set()
        allowed = listener.sub("allowedRoutes")
        if allowed is not None:
            for allowed_kind in allowed.items("kinds"):
                allowed_kind.expect("group", [GATEWAY_GROUP], GATEWAY_GROUP)
                kinds.add(allowed_kind.expect("kind", ["GRPCRoute", "HTTPRoute"]))
                allowed_kind.done()
            allowed.done()
        listeners[listener_name] = kinds or {"GRPCRoute", "HTTPRoute"}
        listener.done()
    spec.done()
    gateway.done()
    return name, listeners


def _policies(objects: Mapping[str, Mapping[str, _Fields]]) -> dict[tuple[str, str], _Policy]:
    """Each targeted route's BackendTrafficPolicy, by (kind, name)."""
    policies: dict[tuple[str, str], _Policy] = {}
    for policy in objects["BackendTrafficPolicy"].values():
        targets, settings = _policy(policy)
        policy.done()
        for kind, name in targets:
            if name not in objects[kind]:
                raise ValueError(f"{policy.where}: no {kind} {name}")
            if (kind, name) in policies:
                raise ValueError(f"{policy.where}: {kind} {name} has a policy already")
            policies[kind, name] = settings
    return policies


@dataclass
class _Answer:
    """An HTTPRouteFilter's direct response, with the headers it sets."""

    response: dict[str, Any]
    headers: list[dict[str, Any]]


def _direct_responses(objects: Mapping[str, Mapping[str, _Fields]]) -> dict[str, _Answer]:
    """Each HTTPRouteFilter's direct response."""
    answers = {}
    for name, filter_object in objects["HTTPRouteFilter"].items():
        spec = filter_object.need_sub("spec")
        answer = spec.need_sub("directResponse")
        response: dict[str, Any] = {"status": int(answer.need("statusCode"))}
        body = answer.sub("body")
        if body is not None:
            body.expect("type", ["Inline"], "Inline")
            response["body"] = {"inline_string": str(body.need("inline"))}
            body.done()
        content_type = answer.get("contentType")
        headers = [] if content_type is None else [_set_header("content-type", content_type)]
        answer.done()
        spec.done()
        filter_object.done()
        answers[name] = _Answer(response, headers)
    return answers


@dataclass
class _Rendering:
    """What the routes render into: Envoy routes by listener, clusters, local replies."""

    gateway: str
    listeners: dict[str, set[str]]
    endpoints: Mapping[int, Sequence[int]]
    answers: dict[str, _Answer]
    policies: dict[tuple[str, str], _Policy]
    routes: dict[str, list[tuple[tuple[int, ...], dict[str, Any]]]] = field(default_factory=dict)
    backends: dict[str, _Backend] = field(default_factory=dict)
    cluster_policies: dict[str, _Policy] = field(default_factory=dict)
    local_replies: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    services: list[str] | None = None
    answers_used: set[str] = field(default_factory=set)


def _attached_listeners(kind: str, spec: _Fields, rendering: _Rendering) -> list[str]:
    """The Gateway listeners a route attaches to (its parentRefs, filtered by allowed kinds)."""
    attached = []
    for parent in spec.items("parentRefs"):
        parent.expect("group", [GATEWAY_GROUP], GATEWAY_GROUP)
        parent.expect("kind", ["Gateway"], "Gateway")
        parent.expect("name", [rendering.gateway])
        section = parent.get("sectionName")
        if section is not None and section not in rendering.listeners:
            raise ValueError(f"{parent.where}.sectionName: no listener {section!r}")
        attached += [section] if section is not None else list(rendering.listeners)
        parent.done()
    attached = [name for name in attached if kind in rendering.listeners[name]]
    if not attached:
        raise ValueError(f"{spec.where}: attached to no listener of {rendering.gateway}")
    return attached


def _backend_action(
    kind: str, rule: _Fields, policy: _Policy, timeout: str | None, rendering: _Rendering
) -> dict[str, Any] | None:
    """The Envoy route action towards the rule's pods, or None without backendRefs.

    Each backendRef is one pod's own Service; locally, the n-th is the n-th replica. Every rule
    must list the same Services, on one port, with equal weights, as many as there are replicas.
    """
    refs = rule.items("backendRefs")
    if not refs:
        return None
    services, ports, weights = [], set(), set()
    for ref in refs:
        ref.expect("group", [""], "")
        ref.expect("kind", ["Service"], "Service")
        services.append(str(ref.need("name")))
        ports.add(int(ref.need("port")))
        weights.add(int(ref.get("weight", 1)))
        ref.done()
    if len(ports) != 1 or len(weights) != 1:
        raise ValueError(f"{rule.where}.backendRefs: one port and equal weights for every pod")
    [port] = ports
    if rendering.services is None:
        rendering.services = services
    if services != rendering.services:
        raise ValueError(f"{rule.where}.backendRefs: not the Services {rendering.services}")
    if port not in rendering.endpoints:
        raise ValueError(f"{rule.where}.backendRefs: no local endpoints for port {port}")
    if len(rendering.endpoints[port]) != len(services):
        raise ValueError(
            f"{rule.where}.backendRefs: {len(services)} pods, but "
            f"{len(rendering.endpoints[port])} local replicas on port {port}"
        )
    http2 = kind == "GRPCRoute"
    cluster = f"pods-{port}-{'grpc' if http2 else 'http'}"
    rendering.backends[cluster] = _Backend(cluster, port, http2)
    if rendering.cluster_policies.setdefault(cluster, policy) is not policy:
        raise ValueError(f"{rule.where}.backendRefs: their cluster would have two policies")
    action: dict[str, Any] = {"cluster": cluster}
    if policy.hash_header is not None:
        action["hash_policy"] = [{"header": {"header_name": policy.hash_header}}]
    request_timeout = timeout if timeout is not None else policy.request_timeout
    if request_timeout is not None:
        action["timeout"] = request_timeout
    if policy.max_stream_duration is not None:
        action["max_stream_duration"] = {"max_stream_duration": policy.max_stream_duration}
    idle_timeout = _idle_timeout(policy.stream_idle_timeout, request_timeout)
    if idle_timeout is not None:
        action["idle_timeout"] = idle_timeout
    return {"route": action}


def _idle_timeout(stream_idle_timeout: str | None, request_timeout: str | None) -> str | None:
    """The route's stream idle timeout as Envoy Gateway v1.9 sets it (translator/route.go).

    Without a streamIdleTimeout, a request timeout raises the idle limit to at least an hour, so
    that a quiet stream outlives Envoy's 5-minute default; a request timeout of 0 disables it.
    """
    if stream_idle_timeout is not None or request_timeout is None:
        return stream_idle_timeout
    seconds = float(request_timeout.removesuffix("s"))
    return "0.000s" if seconds == 0 else f"{max(seconds, 3600.0):.3f}s"


def _filters(rule: _Fields, rendering: _Rendering) -> tuple[_Answer | None, list[dict[str, Any]]]:
    """The rule's direct response (an ExtensionRef), if any, and the response headers it sets."""
    answer, headers = None, []
    for rule_filter in rule.items("filters"):
        kind = rule_filter.expect("type", ["ResponseHeaderModifier", "ExtensionRef"])
        if kind == "ResponseHeaderModifier":
            modifier = rule_filter.need_sub("responseHeaderModifier")
            for header in modifier.items("set"):
                headers.append(_set_header(header.need("name"), header.need("value")))
                header.done()
            modifier.done()
        else:
            reference = rule_filter.need_sub("extensionRef")
            reference.expect("group", ["gateway.envoyproxy.io"])
            reference.expect("kind", ["HTTPRouteFilter"])
            name = str(reference.need("name"))
            reference.done()
            if name not in rendering.answers:
                raise ValueError(f"{reference.where}.name: no HTTPRouteFilter {name}")
            if answer is not None:
                raise ValueError(f"{rule.where}.filters: two direct responses")
            answer = rendering.answers[name]
            rendering.answers_used.add(name)
        rule_filter.done()
    return answer, headers + (answer.headers if answer is not None else [])


def _render_route(kind: str, name: str, route: _Fields, rendering: _Rendering) -> None:
    """Add a GRPCRoute's or HTTPRoute's rules to the Envoy routes of its listeners."""
    policy = rendering.policies.get((kind, name), NO_POLICY)
    spec = route.need_sub("spec")
    attached = _attached_listeners(kind, spec, rendering)
    for listener in attached:
        rendering.local_replies.setdefault(listener, []).extend(policy.local_replies)
    for rule_number, rule in enumerate(spec.items("rules")):
        rule.get("name")
        timeout = None
        limits = rule.sub("timeouts") if kind == "HTTPRoute" else None
        if limits is not None:
            timeout = _seconds(limits.need("request"), f"{limits.where}.request")
            limits.done()
        action = _backend_action(kind, rule, policy, timeout, rendering)
        answer, headers = _filters(rule, rendering)
        if (action is None) == (answer is None):
            raise ValueError(f"{rule.where}: needs either backendRefs or a direct response")
        if answer is not None:
            action = {"direct_response": answer.response}
        matches = rule.items("matches") or [_Fields({}, f"{rule.where}.matches[0]")]
        for match_number, match in enumerate(matches):
            header_matchers = _header_matchers(match)
            path_kind, path, envoy_match = (
                _grpc_match(match) if kind == "GRPCRoute" else _http_match(match)
            )
            match.done()
            if header_matchers:
                envoy_match["headers"] = header_matchers
            envoy_route = {
                "name": f"{name}-rule{rule_number}-match{match_number}",
                "match": envoy_match,
                **(action or {}),
            }
            if headers:
                envoy_route["response_headers_to_add"] = headers
            # Gateway API precedence: exact, regex, then prefix paths; longer paths first; more
            # header matches first; then the order of the rules.
            precedence = (PATH_RANK[path_kind], -len(path), -len(header_matchers))
            for listener in attached:
                order = (*precedence, rule_number, match_number)
                rendering.routes.setdefault(listener, []).append((order, envoy_route))
        rule.done()
    spec.done()
    route.done()


def _listener(name: str, port: int, rendering: _Rendering, access_log: Path) -> dict[str, Any]:
    """An Envoy listener on loopback `port` with the Gateway listener's routes, in order."""
    ordered = [route for _, route in sorted(rendering.routes.get(name, []), key=lambda r: r[0])]
    log = {
        "name": "envoy.access_loggers.file",
        "typed_config": {
            "@type": f"type.googleapis.com/{FILE_LOG}",
            "path": str(access_log),
            "log_format": {"json_format": ACCESS_LOG_FIELDS},
        },
    }
    router = {"@type": f"type.googleapis.com/{ROUTER}"}
    manager: dict[str, Any] = {
        "@type": f"type.googleapis.com/{HCM}",
        "stat_prefix": name,
        "codec_type": "AUTO",
        "access_log": [log],
        "route_config": {
            "name": name,
            "virtual_hosts": [{"name": name, "domains": ["*"], "routes": ordered}],
        },
        "http_filters": [{"name": "envoy.filters.http.router", "typed_config": router}],
    }
    if rendering.local_replies.get(name):
        manager["local_reply_config"] = {"mappers": rendering.local_replies[name]}
    network_filter = {
        "name": "envoy.filters.network.http_connection_manager",
        "typed_config": manager,
    }
    return {
        "name": name,
        "address": {"socket_address": {"address": LOOPBACK, "port_value": port}},
        "filter_chains": [{"filters": [network_filter]}],
    }


def _cluster(backend: _Backend, policy: _Policy, ports: Sequence[int]) -> dict[str, Any]:
    """A static Envoy cluster of the replicas' loopback `ports` (h2c for gRPC, else HTTP/1.1)."""
    hosts = [
        {"endpoint": {"address": {"socket_address": {"address": LOOPBACK, "port_value": port}}}}
        for port in ports
    ]
    protocol = "http2_protocol_options" if backend.http2 else "http_protocol_options"
    cluster: dict[str, Any] = {
        "name": backend.cluster,
        "type": "STATIC",
        "connect_timeout": "1s",
        "load_assignment": {
            "cluster_name": backend.cluster,
            "endpoints": [{"lb_endpoints": hosts}],
        },
        "typed_extension_protocol_options": {
            HTTP_PROTOCOL_OPTIONS: {
                "@type": f"type.googleapis.com/{HTTP_PROTOCOL_OPTIONS}",
                "explicit_http_config": {protocol: {}},
            }
        },
    }
    if policy.hash_header is not None:
        cluster["lb_policy"] = "MAGLEV"  # what Envoy Gateway renders ConsistentHash as
        if policy.table_size is not None:
            cluster["maglev_lb_config"] = {"table_size": policy.table_size}
    return cluster


def render_envoy_bootstrap(
    listen_ports: Mapping[str, int],
    endpoints: Mapping[int, Sequence[int]],
    access_log: Path,
    manifest: Path = ROUTING_MANIFEST,
) -> dict[str, Any]:
    """The Envoy static bootstrap for the Gateway API objects in `manifest`.

    `listen_ports` maps each Gateway listener's name to the local port it listens on;
    `endpoints` maps each backend port to the replicas' local ports there, one replica for each
    backendRef (a pod's own Service), in the order the routes list them.
    Every request is logged to `access_log` as one JSON object (keys of ACCESS_LOG_FIELDS).
    Admin listens on a loopback port Envoy chooses. Raises ValueError naming any field of the
    objects that has no translation here.
    """
    objects = _read_objects(manifest)
    gateway, listeners = _gateway(objects)
    if set(listeners) != set(listen_ports):
        raise ValueError(f"Gateway {gateway} has listeners {sorted(listeners)}: ports for each")
    rendering = _Rendering(
        gateway, listeners, endpoints, _direct_responses(objects), _policies(objects)
    )
    for kind in ("GRPCRoute", "HTTPRoute"):
        for name, route in objects[kind].items():
            _render_route(kind, name, route, rendering)
    for unused in sorted(set(rendering.answers) - rendering.answers_used):
        raise ValueError(f"HTTPRouteFilter {unused} is used by no route")
    listener_configs = [
        _listener(name, port, rendering, access_log) for name, port in listen_ports.items()
    ]
    clusters = [
        _cluster(backend, rendering.cluster_policies[name], endpoints[backend.port])
        for name, backend in rendering.backends.items()
    ]
    return {
        "admin": {"address": {"socket_address": {"address": LOOPBACK, "port_value": 0}}},
        "static_resources": {"listeners": listener_configs, "clusters": clusters},
    }
