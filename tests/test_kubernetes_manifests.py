"""The Kubernetes manifests in deploy/kubernetes, checked offline (no cluster runs here).

Core objects are validated by kubernetes-validate's strict schemas (Kubernetes 1.37); Gateway API
and Envoy Gateway objects by the CRD schemas vendored in deploy/kubernetes/schemas, made strict
the way the API server prunes unknown fields. Then what no schema says: the CRDs' CEL rules that
constrain the fields used here, the references between objects, the server's own flag parser and
endpoints, the image's model repository, nginx's messages and the shutdown timing. Every check is
also run on a broken copy, which it must refuse: none of them passes everything.
"""

import copy
import gzip
import json
import re
import shutil
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema  # type: ignore[import-untyped]  # its stubs (types-jsonschema) are not pinned
import kubernetes_validate  # type: ignore[import-untyped]  # ships no type information
import pytest
import yaml

from helpers.model_server.config.cli import Settings, UsageError, parse_args
from helpers.model_server.config.config_file import ConfigFileError, parse_config_text
from helpers.model_server.rest_api.http import DRAIN_SECONDS
from helpers.paths import REPO_ROOT
from helpers.serving import launcher, nginx

Doc = dict[str, Any]

DEPLOY = REPO_ROOT / "deploy" / "kubernetes"
SCHEMAS = DEPLOY / "schemas"
KUBERNETES_VERSION = "1.37.0"
CORE_GROUPS = ("v1", "apps/", "policy/")
METADATA_KEYS = {"name", "labels", "annotations"}
DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
SERVER_COMMAND = ["python", "-m", "helpers.model_server"]
# The label the StatefulSet controller gives each pod: its name.
POD_NAME_LABEL = "statefulset.kubernetes.io/pod-name"


# --- Loading --------------------------------------------------------------------------------------


def load_kustomization() -> Doc:
    """deploy/kubernetes/kustomization.yaml."""
    return yaml.safe_load((DEPLOY / "kustomization.yaml").read_text(encoding="utf-8"))


def generated_config_maps(kustomization: Doc) -> list[Doc]:
    """The ConfigMaps kustomize's configMapGenerator makes (without its name-hash suffix)."""
    return [
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": generator["name"]},
            "data": {
                Path(file).name: (DEPLOY / file).read_text(encoding="utf-8")
                for file in generator["files"]
            },
        }
        for generator in kustomization.get("configMapGenerator", [])
    ]


def load_documents() -> list[Doc]:
    """Every object `kubectl apply -k deploy/kubernetes` would send, generated ones included."""
    kustomization = load_kustomization()
    documents: list[Doc] = []
    for resource in kustomization["resources"]:
        text = (DEPLOY / resource).read_text(encoding="utf-8")
        documents += [doc for doc in yaml.safe_load_all(text) if doc]
    return documents + generated_config_maps(kustomization)


def find(documents: list[Doc], kind: str, name: str | None = None) -> Doc:
    """The one object of `kind` (and `name`); KeyError if there is none."""
    for doc in documents:
        if doc["kind"] == kind and name in (None, doc["metadata"]["name"]):
            return doc
    raise KeyError(f"no {kind} {name or ''}")


def all_of(documents: list[Doc], kind: str) -> list[Doc]:
    """Every object of `kind`."""
    return [doc for doc in documents if doc["kind"] == kind]


def label(doc: Doc) -> str:
    """`Kind/name` for messages."""
    return f"{doc['kind']}/{doc['metadata']['name']}"


def is_core(doc: Doc) -> bool:
    """A built-in Kubernetes object (kubernetes-validate knows it), not a custom resource."""
    return doc["apiVersion"].startswith(CORE_GROUPS)


def server_container(documents: list[Doc]) -> Doc:
    """The model server's container in the StatefulSet."""
    return find(documents, "StatefulSet")["spec"]["template"]["spec"]["containers"][0]


# --- Schemas: core objects ------------------------------------------------------------------------


def core_problems(documents: list[Doc]) -> list[str]:
    """kubernetes-validate's strict 1.37 schema errors (unknown fields fail) of core objects."""
    problems = []
    for doc in filter(is_core, documents):
        try:
            kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)
        except kubernetes_validate.ValidationError as error:
            problems.append(f"{label(doc)}: {error.message}")
        except kubernetes_validate.SchemaNotFoundError as error:
            problems.append(f"{label(doc)}: {error.message}")
    return problems


# --- Schemas: Gateway API and Envoy Gateway -------------------------------------------------------


def structural(schema: Any) -> Any:
    """The schema with unknown fields refused wherever the API server would prune them."""
    if isinstance(schema, list):
        return [structural(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    strict = {key: structural(value) for key, value in schema.items()}
    if (
        "properties" in strict
        and "additionalProperties" not in strict
        and not strict.get("x-kubernetes-preserve-unknown-fields")
    ):
        strict["additionalProperties"] = False
    return strict


@cache
def crd_schemas() -> dict[tuple[str, str], Doc]:
    """(apiVersion, kind) -> the vendored openAPIV3Schema of that CRD version, as published."""
    schemas = {}
    for path in sorted(SCHEMAS.glob("*.json.gz")):
        crd = json.loads(gzip.decompress(path.read_bytes()))
        for version, schema in crd["versions"].items():
            schemas[(f"{crd['group']}/{version}", crd["kind"])] = schema
    return schemas


@cache
def strict_validator(api_version: str, kind: str) -> jsonschema.Draft4Validator:
    """A validator of one CRD version that refuses unknown fields."""
    return jsonschema.Draft4Validator(structural(crd_schemas()[(api_version, kind)]))


def crd_problems(documents: list[Doc]) -> list[str]:
    """Errors against the vendored CRD schemas, plus metadata the CRD schemas leave open."""
    problems = []
    for doc in documents:
        if is_core(doc):
            continue
        if (doc["apiVersion"], doc["kind"]) not in crd_schemas():
            problems.append(f"{label(doc)}: no vendored schema for {doc['apiVersion']}")
            continue
        validator = strict_validator(doc["apiVersion"], doc["kind"])
        for error in validator.iter_errors(doc):
            problems.append(f"{label(doc)} at {error.json_path}: {error.message}")
        metadata = doc["metadata"]
        if set(metadata) - METADATA_KEYS:
            problems.append(
                f"{label(doc)}: unexpected metadata {sorted(set(metadata) - METADATA_KEYS)}"
            )
        if not DNS_SUBDOMAIN.fullmatch(metadata["name"]):
            problems.append(f"{label(doc)}: name is not a DNS subdomain")
    return problems


# --- CEL rules of the CRDs ------------------------------------------------------------------------

# The CRDs' x-kubernetes-validations (CEL) that constrain fields these manifests set, mirrored in
# Python and keyed by their message. `test_mirrored_cel_rules_are_upstream_rules` shows that each
# one is a rule of the vendored schemas, met where these manifests use it.
CelCheck = Callable[[Any], bool]
MIRRORED_CEL: dict[str, CelCheck] = {
    "If LoadBalancer type is consistentHash, consistentHash field needs to be set.": lambda lb: (
        ("consistentHash" in lb) == (lb["type"] == "ConsistentHash")
    ),
    "If consistent hash type is header, the header field must be set.": lambda hashing: (
        ("header" in hashing) == (hashing["type"] == "Header")
    ),
    "either targetRef or targetRefs must be used": lambda spec: (
        ("targetRef" in spec) != ("targetRefs" in spec) or bool(spec.get("targetSelectors"))
    ),
    "this policy can only have a targetRefs[*].group of gateway.networking.k8s.io": lambda spec: (
        all(ref["group"] == "gateway.networking.k8s.io" for ref in spec.get("targetRefs", []))
    ),
    "inline must be set for type Inline": lambda body: (
        body.get("type", "Inline") != "Inline" or "inline" in body
    ),
    "service must only contain valid characters (matching "
    r"^(?i)\.?[a-z_][a-z_0-9]*(\.[a-z_][a-z_0-9]*)*$)": lambda method: (
        method.get("type", "Exact") != "Exact"
        or "service" not in method
        or re.fullmatch(r"(?i)\.?[a-z_][a-z_0-9]*(\.[a-z_][a-z_0-9]*)*", method["service"])
        is not None
    ),
    "method must only contain valid characters (matching ^[A-Za-z_][A-Za-z_0-9]*$)": lambda m: (
        m.get("type", "Exact") != "Exact"
        or "method" not in m
        or re.fullmatch(r"[A-Za-z_][A-Za-z_0-9]*", m["method"]) is not None
    ),
    "filter.extensionRef must be specified for ExtensionRef filter.type": lambda f: (
        f["type"] != "ExtensionRef" or "extensionRef" in f
    ),
    "filter.extensionRef must be nil if the filter.type is not ExtensionRef": lambda f: (
        f["type"] == "ExtensionRef" or "extensionRef" not in f
    ),
    "filter.responseHeaderModifier must be specified for ResponseHeaderModifier filter.type": (
        lambda f: f["type"] != "ResponseHeaderModifier" or "responseHeaderModifier" in f
    ),
    "Must have port for Service reference": lambda ref: (
        ref.get("group", "") != "" or ref.get("kind", "Service") != "Service" or "port" in ref
    ),
    "Listener name must be unique within the Gateway": lambda listeners: (
        len({listener["name"] for listener in listeners}) == len(listeners)
    ),
    "tls must not be specified for protocols ['HTTP', 'TCP', 'UDP']": lambda listeners: all(
        "tls" not in listener
        for listener in listeners
        if listener["protocol"] in ("HTTP", "TCP", "UDP")
    ),
    "value must be an absolute path and start with '/' when type one of ['Exact', 'PathPrefix']": (
        lambda path: (
            path.get("type", "PathPrefix") == "RegularExpression"
            or path.get("value", "/").startswith("/")
        )
    ),
}


def cel_rules_applied(node: Any, schema: Doc, path: str) -> Iterator[tuple[str, Doc, Any]]:
    """(path, rule, value) for every CEL rule of `schema` that applies to a value in `node`."""
    for rule in schema.get("x-kubernetes-validations", []):
        yield path, rule, node
    if isinstance(node, dict):
        for key, value in node.items():
            if key in schema.get("properties", {}):
                yield from cel_rules_applied(value, schema["properties"][key], f"{path}.{key}")
    elif isinstance(node, list) and "items" in schema:
        for index, value in enumerate(node):
            yield from cel_rules_applied(value, schema["items"], f"{path}[{index}]")


def custom_rules(documents: list[Doc]) -> Iterator[tuple[Doc, str, Doc, Any]]:
    """(object, path, rule, value) for every CEL rule that applies to the custom objects."""
    for doc in documents:
        if not is_core(doc):
            schema = crd_schemas()[(doc["apiVersion"], doc["kind"])]
            for path, rule, value in cel_rules_applied(doc, schema, doc["kind"]):
                yield doc, path, rule, value


def cel_problems(documents: list[Doc]) -> list[str]:
    """The mirrored CEL rules that these objects break, with the CRD's own message."""
    return [
        f"{label(doc)} at {path}: {rule['message']}"
        for doc, path, rule, value in custom_rules(documents)
        if rule.get("message") in MIRRORED_CEL and not MIRRORED_CEL[rule["message"]](value)
    ]


# --- References between objects -------------------------------------------------------------------


def route_problems(documents: list[Doc], route: Doc) -> list[str]:
    """A route's parentRefs, backendRefs and extensionRefs name objects and ports that exist."""
    problems = []
    services = {doc["metadata"]["name"]: doc for doc in all_of(documents, "Service")}
    filters = {doc["metadata"]["name"] for doc in all_of(documents, "HTTPRouteFilter")}
    gateways = {doc["metadata"]["name"]: doc for doc in all_of(documents, "Gateway")}
    for parent in route["spec"]["parentRefs"]:
        gateway = gateways.get(parent["name"])
        if gateway is None:
            problems.append(f"{label(route)}: parent Gateway {parent['name']} does not exist")
            continue
        listeners = {item["name"]: item for item in gateway["spec"]["listeners"]}
        listener = listeners.get(parent.get("sectionName", ""))
        if listener is None:
            problems.append(f"{label(route)}: no listener {parent.get('sectionName')}")
            continue
        kinds = [kind["kind"] for kind in listener["allowedRoutes"]["kinds"]]
        if route["kind"] not in kinds:
            problems.append(f"{label(route)}: listener {listener['name']} allows only {kinds}")
    for rule in route["spec"]["rules"]:
        for ref in rule.get("backendRefs", []):
            service = services.get(ref["name"])
            ports = [port["port"] for port in service["spec"]["ports"]] if service else []
            if ref.get("port") not in ports:
                problems.append(
                    f"{label(route)}: Service {ref['name']} has no port {ref.get('port')}"
                )
        for route_filter in rule.get("filters", []):
            ref = route_filter.get("extensionRef")
            if ref and (ref["kind"], ref["group"]) != ("HTTPRouteFilter", "gateway.envoyproxy.io"):
                problems.append(f"{label(route)}: extensionRef to a {ref['kind']}")
            elif ref and ref["name"] not in filters:
                problems.append(f"{label(route)}: HTTPRouteFilter {ref['name']} does not exist")
    return problems


def matched_headers(route: Doc) -> list[Doc]:
    """Every header match of a route's rules."""
    return [
        header
        for rule in route["spec"]["rules"]
        for match in rule.get("matches", [])
        for header in match.get("headers", [])
    ]


def hashed_header(policy: Doc) -> str:
    """The header a BackendTrafficPolicy's consistent hash reads."""
    return str(policy["spec"]["loadBalancer"]["consistentHash"]["header"]["name"])


def reference_problems(documents: list[Doc]) -> list[str]:
    """Names that must resolve: class, parents, backends, filters, policy targets, Services."""
    problems = []
    classes = {doc["metadata"]["name"] for doc in all_of(documents, "GatewayClass")}
    for gateway in all_of(documents, "Gateway"):
        if gateway["spec"]["gatewayClassName"] not in classes:
            problems.append(f"{label(gateway)}: GatewayClass does not exist")
    routes = all_of(documents, "GRPCRoute") + all_of(documents, "HTTPRoute")
    for route in routes:
        problems += route_problems(documents, route)
    targeted = []
    for policy in all_of(documents, "BackendTrafficPolicy"):
        for ref in policy["spec"]["targetRefs"]:
            names = {doc["metadata"]["name"] for doc in all_of(documents, ref["kind"])}
            if ref["name"] not in names:
                problems.append(f"{label(policy)}: {ref['kind']} {ref['name']} does not exist")
            targeted.append((ref["kind"], ref["name"]))
    for route in routes:
        if targeted.count((route["kind"], route["metadata"]["name"])) != 1:
            problems.append(f"{label(route)}: not exactly one BackendTrafficPolicy targets it")
    matched = {header["name"] for route in routes for header in matched_headers(route)}
    for policy in all_of(documents, "BackendTrafficPolicy"):
        if {hashed_header(policy)} != matched:
            problems.append(
                f"{label(policy)}: hashes {hashed_header(policy)}, routes match {matched}"
            )
    return problems + backend_problems(documents) + workload_problems(documents)


def pod_names(statefulset: Doc) -> list[str]:
    """The StatefulSet's pods: `<name>-0`, `<name>-1`, ..."""
    name = statefulset["metadata"]["name"]
    return [f"{name}-{n}" for n in range(statefulset["spec"]["replicas"])]


def selected_pods(service: Doc, statefulset: Doc) -> list[str]:
    """The StatefulSet's pods a Service selects (with the pod-name label its controller sets)."""
    labels = statefulset["spec"]["template"]["metadata"]["labels"]
    selector = service["spec"]["selector"].items()
    return [
        pod
        for pod in pod_names(statefulset)
        if not selector - {**labels, POD_NAME_LABEL: pod}.items()
    ]


def backend_problems(documents: list[Doc]) -> list[str]:
    """Every routed rule lists each pod's own Service once, and the policies route to them."""
    problems = []
    statefulset = find(documents, "StatefulSet")
    services = {doc["metadata"]["name"]: doc for doc in all_of(documents, "Service")}
    for route in all_of(documents, "GRPCRoute") + all_of(documents, "HTTPRoute"):
        for number, rule in enumerate(route["spec"]["rules"]):
            if "backendRefs" not in rule:
                continue
            pods = []
            for ref in rule["backendRefs"]:
                service = services.get(ref["name"])
                one = selected_pods(service, statefulset) if service else []
                pods += one if len(one) == 1 else [f"{ref['name']} (not one pod's Service)"]
            if sorted(pods) != pod_names(statefulset):
                problems.append(f"{label(route)}: rule {number} routes to {pods}")
    for policy in all_of(documents, "BackendTrafficPolicy"):
        if policy["spec"].get("routingType") != "Service":
            problems.append(f"{label(policy)}: routingType is not Service (pod addresses change)")
    return problems


def workload_problems(documents: list[Doc]) -> list[str]:
    """Services select the pods and name their ports; volumes and the ConfigMap resolve."""
    problems = []
    statefulset = find(documents, "StatefulSet")
    spec = statefulset["spec"]
    pod_labels = spec["template"]["metadata"]["labels"]
    container_ports = {
        port["name"]: port["containerPort"] for port in server_container(documents)["ports"]
    }
    if spec["selector"]["matchLabels"].items() - pod_labels.items():
        problems.append(f"{label(statefulset)}: selector does not match the pod labels")
    for service in all_of(documents, "Service"):
        if not selected_pods(service, statefulset):
            problems.append(f"{label(service)}: selects no model server pod")
        for port in service["spec"]["ports"]:
            if port["targetPort"] not in container_ports:
                problems.append(
                    f"{label(service)}: targetPort {port['targetPort']} is not a container port"
                )
    governing = [
        s for s in all_of(documents, "Service") if s["metadata"]["name"] == spec["serviceName"]
    ]
    if not governing or governing[0]["spec"].get("clusterIP") != "None":
        problems.append(f"{label(statefulset)}: serviceName is not a headless Service")
    volumes = {volume["name"]: volume for volume in spec["template"]["spec"]["volumes"]}
    claims = {claim["metadata"]["name"] for claim in spec.get("volumeClaimTemplates", [])}
    for mount in server_container(documents)["volumeMounts"]:
        if mount["name"] not in volumes and mount["name"] not in claims:
            problems.append(f"{label(statefulset)}: volume {mount['name']} does not exist")
    container = server_container(documents)
    if container["securityContext"].get("readOnlyRootFilesystem"):
        home = next((e["value"] for e in container.get("env", []) if e["name"] == "HOME"), "/")
        mount = mount_of(container, home.rstrip("/") + "/")
        if mount is None or "emptyDir" not in volumes.get(mount["name"], {}):
            problems.append(
                f"{label(statefulset)}: HOME {home} is read-only (OpenVINO writes there)"
            )
    config_maps = {doc["metadata"]["name"] for doc in all_of(documents, "ConfigMap")}
    for volume in volumes.values():
        if "configMap" in volume and volume["configMap"]["name"] not in config_maps:
            problems.append(
                f"{label(statefulset)}: ConfigMap {volume['configMap']['name']} is not generated"
            )
    return problems


# --- The server's own command line, config and timing ---------------------------------------------


def mount_of(container: Doc, path: str) -> Doc | None:
    """The volume mount that holds `path` in the container, or None."""
    for mount in container["volumeMounts"]:
        if path.startswith(mount["mountPath"].rstrip("/") + "/"):
            return mount
    return None


def server_settings(documents: list[Doc]) -> Settings:
    """The container's flags as the server itself parses them (UsageError if it refuses them)."""
    return parse_args(server_container(documents)["args"])


def cli_problems(documents: list[Doc]) -> list[str]:
    """The server accepts its flags, and they agree with the ports, volumes and routes."""
    container = server_container(documents)
    try:
        settings = server_settings(documents)
    except UsageError as error:
        return [f"the server refuses its flags: {error}"]
    problems = []
    if container["command"] != SERVER_COMMAND:
        problems.append(f"command {container['command']} is not {SERVER_COMMAND}")
    ports = {port["name"]: port["containerPort"] for port in container["ports"]}
    if (settings.port, settings.rest_port) != (ports.get("grpc"), ports.get("rest")):
        problems.append("--port/--rest_port are not the container's grpc/rest ports")
    if (settings.grpc_bind_address, settings.rest_bind_address) != ("0.0.0.0", "0.0.0.0"):
        problems.append("the server listens on loopback only: the gateway cannot reach it")
    if not settings.kserve_sequence_extension:
        problems.append("--kserve_sequence_extension is off: KServe sequences are refused")
    statefulset = find(documents, "StatefulSet")
    claims = {claim["metadata"]["name"] for claim in statefulset["spec"]["volumeClaimTemplates"]}
    snapshots = mount_of(container, settings.sequence_snapshot_path + "/")
    if snapshots is None or snapshots["name"] not in claims:
        problems.append("--sequence_snapshot_path is not on a volume claimed per pod")
    config = mount_of(container, settings.config_path)
    generated = {doc["metadata"]["name"]: doc for doc in all_of(documents, "ConfigMap")}
    volumes = {v["name"]: v for v in statefulset["spec"]["template"]["spec"]["volumes"]}
    config_map = volumes.get(config["name"], {}).get("configMap", {}) if config else {}
    files = generated.get(config_map.get("name", ""), {}).get("data", {})
    if Path(settings.config_path).name not in files:
        problems.append("--config_path is not a file of the generated ConfigMap")
    return problems


def config_problems(config_text: str) -> list[str]:
    """The server's own config.json parser accepts the ConfigMap's config.json."""
    try:
        parse_config_text(config_text, Path("/"))
    except ConfigFileError as error:
        return [f"config.json refused: {error}"]
    return []


@cache
def grpc_grace_seconds() -> float:
    """The server's SHUTDOWN_GRACE_SECONDS, read in a process of its own."""
    # Imported here, the server module would load all of TensorFlow: its TF-free importer is
    # meant for the server's own process, and would break TensorFlow for the other tests.
    code = (
        "from helpers.model_server.process.light_tensorflow import "
        "install_light_tensorflow_namespace as light; light(); "
        "from helpers.model_server.server import SHUTDOWN_GRACE_SECONDS; "
        "print(SHUTDOWN_GRACE_SECONDS)"
    )
    command = [sys.executable, "-c", code]
    result = subprocess.run(command, capture_output=True, text=True, check=True, cwd=REPO_ROOT)
    return float(result.stdout)


def shutdown_problems(documents: list[Doc]) -> list[str]:
    """The grace period covers the preStop sleep, the server's drain and its snapshot write."""
    pod = find(documents, "StatefulSet")["spec"]["template"]["spec"]
    sleep = pod["containers"][0]["lifecycle"]["preStop"]["sleep"]["seconds"]
    # gRPC calls in flight get SHUTDOWN_GRACE_SECONDS, REST requests DRAIN_SECONDS, at worst one
    # after the other; then the snapshot is written, which needs time that must remain.
    needed = sleep + grpc_grace_seconds() + DRAIN_SECONDS
    grace = pod["terminationGracePeriodSeconds"]
    if grace <= needed:
        return [f"grace period {grace} s leaves no time for the snapshot after {needed} s"]
    return []


# --- The image ------------------------------------------------------------------------------------


def containerfile_copies() -> list[tuple[list[str], str]]:
    """(sources, destination) of every COPY in the Containerfile."""
    copies = []
    for line in (DEPLOY / "Containerfile").read_text(encoding="utf-8").splitlines():
        if line.startswith("COPY "):
            *sources, destination = line.split()[1:]
            copies.append((sources, destination))
    return copies


def image_model_files(base_path: str) -> dict[str, list[Path]]:
    """Version folder -> repository files the Containerfile copies under a model's base path."""
    folders: dict[str, list[Path]] = {}
    for sources, destination in containerfile_copies():
        if destination.startswith(base_path.rstrip("/") + "/"):
            version = destination[len(base_path) :].strip("/")
            folders.setdefault(version, []).extend(REPO_ROOT / source for source in sources)
    return folders


def image_problems(documents: list[Doc]) -> list[str]:
    """The image runs the manifest's command and holds every model that config.json names."""
    problems = []
    containerfile = (DEPLOY / "Containerfile").read_text(encoding="utf-8")
    entrypoint = re.search(r"^ENTRYPOINT (.+)$", containerfile, re.MULTILINE)
    if (
        entrypoint is None
        or json.loads(entrypoint.group(1)) != server_container(documents)["command"]
    ):
        problems.append("the Containerfile's ENTRYPOINT is not the container's command")
    for sources, _ in containerfile_copies():
        problems += [
            f"COPY {source}: not in the repository"
            for source in sources
            if not (REPO_ROOT / source).exists()
        ]
    config = json.loads(find(documents, "ConfigMap")["data"]["config.json"])
    if not config["model_config_list"]:
        problems.append("config.json serves no model")
    for entry in config["model_config_list"]:
        folders = image_model_files(entry["config"]["base_path"])
        if not any(version.isdigit() and int(version) > 0 for version in folders):
            problems.append(f"the image has no version folder under {entry['config']['base_path']}")
    return problems


def pin_problems(image_text: str, repository_text: str) -> list[str]:
    """The image's pins (requirements-server.txt) are the repository's (requirements.txt)."""
    pins = set(repository_text.splitlines())
    image = [line for line in image_text.splitlines() if line and not line.startswith("#")]
    return [f"{pin} is not pinned so in requirements.txt" for pin in image if pin not in pins] + [
        f"{pin} is not an exact pin" for pin in image if "==" not in pin
    ]


# --- The same as nginx: messages, id pattern, hashed header ---------------------------------------


def nginx_text() -> str:
    """An nginx.conf as helpers.serving.nginx writes it (ports are placeholders)."""
    return nginx.nginx_config(Path("/tmp/front"), 9000, 8000, [(9001, 8001)])


def nginx_problems(documents: list[Doc]) -> list[str]:
    """What the gateway answers by itself, and the header it hashes, are what nginx has."""
    problems = []
    grpc = find(documents, "HTTPRouteFilter", "missing-sequence-id-grpc")["spec"]["directResponse"]
    if grpc["body"]["inline"] != nginx.MISSING_ID_MESSAGE:
        problems.append("the gRPC refusal is not nginx's MISSING_ID_MESSAGE")
    rest = find(documents, "HTTPRouteFilter", "missing-sequence-id-rest")["spec"]["directResponse"]
    if rest["body"]["inline"] != json.dumps({"error": nginx.MISSING_ID_MESSAGE}):
        problems.append("the REST refusal is not nginx's JSON MISSING_ID_MESSAGE")
    admin = find(documents, "HTTPRouteFilter", "per-replica-introspection")["spec"][
        "directResponse"
    ]
    text = nginx_text()
    if f"return {admin['statusCode']} '{admin['body']['inline']}';" not in text:
        problems.append("the /admin/ refusal is not nginx's")
    for response in (rest, admin):
        if response.get("contentType") != "application/json":
            problems.append("a JSON refusal without Content-Type application/json")
    grpc_route = find(documents, "GRPCRoute")
    for rule in grpc_route["spec"]["rules"]:
        for route_filter in rule.get("filters", []):
            for header in route_filter.get("responseHeaderModifier", {}).get("set", []):
                if f"add_header {header['name']} {header['value']};" not in text:
                    problems.append(f"{header['name']}: {header['value']} is not what nginx sends")
    for route in (grpc_route, find(documents, "HTTPRoute")):
        for header in matched_headers(route):
            if f'"~{header["value"]}" 1;' not in text:
                problems.append(f"{label(route)}: {header['value']} is not nginx's id pattern")
    for policy in all_of(documents, "BackendTrafficPolicy"):
        variable = "$http_" + hashed_header(policy).lower().replace("-", "_")
        if f"hash {variable} consistent;" not in text:
            problems.append(f"{label(policy)}: nginx does not hash {hashed_header(policy)}")
    return problems


# --- Probes against a running server --------------------------------------------------------------


def loopback_args(args: list[str], config_path: Path, snapshots: Path) -> list[str]:
    """The container's flags for a local run: loopback, local paths, ports left to the launcher."""
    replaced = {
        "--config_path": str(config_path),
        "--grpc_bind_address": launcher.LOOPBACK,
        "--rest_bind_address": launcher.LOOPBACK,
        "--sequence_snapshot_path": str(snapshots),
    }
    local = []
    for arg in args:
        name = arg.split("=", 1)[0]
        if name in ("--port", "--rest_port"):
            continue
        local.append(f"{name}={replaced[name]}" if name in replaced else arg)
    return local


def local_repository(documents: list[Doc], folder: Path) -> Path:
    """The image's model repository copied under `folder`; the config.json that serves it."""
    config = json.loads(find(documents, "ConfigMap")["data"]["config.json"])
    for entry in config["model_config_list"]:
        base_path = entry["config"]["base_path"]
        local_base = folder / base_path.strip("/")
        for version, files in image_model_files(base_path).items():
            (local_base / version).mkdir(parents=True, exist_ok=True)
            for file in files:
                shutil.copy(file, local_base / version / file.name)
        entry["config"]["base_path"] = str(local_base)
    config_path = folder / "config.json"
    config_path.write_text(json.dumps(config), encoding="utf-8")
    return config_path


def http_status(url: str) -> int | str:
    """The HTTP status of a GET (no proxy in the way), or why there was none."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(url, timeout=10) as response:
            return int(response.status)
    except urllib.error.HTTPError as error:
        return int(error.code)
    except OSError as error:
        return str(error)


def probe_problems(documents: list[Doc], server: launcher.ServerHandle) -> list[str]:
    """Each probe's path succeeds on the server's REST port as the kubelet judges it (200-399)."""
    container = server_container(documents)
    ports = {port["name"]: port["containerPort"] for port in container["ports"]}
    rest_port = server_settings(documents).rest_port
    problems = []
    for kind in ("startupProbe", "readinessProbe", "livenessProbe"):
        probe = container[kind]["httpGet"]
        port = ports.get(probe["port"], probe["port"])
        if port != rest_port:
            problems.append(f"{kind}: port {probe['port']} is not the REST port")
            continue
        status = http_status(f"http://{launcher.LOOPBACK}:{server.rest_port}{probe['path']}")
        if not (isinstance(status, int) and 200 <= status < 400):
            problems.append(f"{kind}: GET {probe['path']} answered {status}")
    return problems


@pytest.fixture(scope="module")
def documents() -> list[Doc]:
    """The manifests, loaded once (each test mutates its own copy)."""
    return load_documents()


def start_pod_server(documents: list[Doc], folder: Path) -> launcher.ServerHandle:
    """The server run with the container's flags on loopback and the image's model repository."""
    config_path = local_repository(documents, folder)
    args = loopback_args(server_container(documents)["args"], config_path, folder / "snapshots")
    config = json.loads(config_path.read_text(encoding="utf-8"))
    models = [entry["config"]["name"] for entry in config["model_config_list"]]
    return launcher.start_server(folder, models, args)


def start_sequence(server: launcher.ServerHandle, model: str, sequence_id: int) -> int:
    """START a sequence over KServe REST with zeros of the model's input shape; the status."""
    base = f"http://{launcher.LOOPBACK}:{server.rest_port}/v2/models/{model}"
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(base, timeout=10) as response:
        (first, *_) = json.load(response)["inputs"]
    size = 1
    for dim in first["shape"]:
        size *= max(dim, 1)
    tensor = {**first, "data": [0] * size, "shape": [max(dim, 1) for dim in first["shape"]]}
    body = {"inputs": [tensor], "parameters": {"sequence_id": sequence_id, "sequence_start": True}}
    request = urllib.request.Request(f"{base}/infer", json.dumps(body).encode(), method="POST")
    with opener.open(request, timeout=10) as response:
        return int(response.status)


def sigterm_problems(documents: list[Doc], folder: Path) -> list[str]:
    """SIGTERM with a live sequence: exit 0, sequence saved, within grace minus preStop sleep."""
    pod = find(documents, "StatefulSet")["spec"]["template"]["spec"]
    budget = (
        pod["terminationGracePeriodSeconds"]
        - pod["containers"][0]["lifecycle"]["preStop"]["sleep"]["seconds"]
    )
    server = start_pod_server(documents, folder)
    process = server.process
    try:
        if process is None or start_sequence(server, server.model_names[0], 41) != 200:
            return ["the server did not start a sequence"]
        process.send_signal(signal.SIGTERM)
        try:
            code = process.wait(max(budget, 0))
        except subprocess.TimeoutExpired:
            return [f"SIGTERM did not end the server within {budget} s"]
    finally:
        server.stop()
    problems = [] if code == 0 else [f"the server exited with {code} at SIGTERM"]
    if "wrote 1 sequence(s)" not in server.log_text():
        problems.append("no snapshot of the live sequence was written at SIGTERM")
    return problems


@pytest.fixture(scope="module")
def server(
    documents: list[Doc], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[launcher.ServerHandle]:
    """The server run as the container runs it, on loopback; stopped after the module."""
    handle = start_pod_server(documents, tmp_path_factory.mktemp("kubernetes_pod"))
    try:
        yield handle
    finally:
        handle.stop()


# --- Broken copies --------------------------------------------------------------------------------

CHECKS: dict[str, Callable[[list[Doc]], list[str]]] = {
    "core": core_problems,
    "crd": crd_problems,
    "cel": cel_problems,
    "references": reference_problems,
    "cli": cli_problems,
    "shutdown": shutdown_problems,
    "image": image_problems,
    "nginx": nginx_problems,
}
# Short names for long paths in the table below.
PATH_ALIASES = {
    "@pod": "spec.template.spec",
    "@container": "spec.template.spec.containers.0",
    "@hash": "spec.loadBalancer.consistentHash",
    "@direct": "spec.directResponse",
    "@refusal": "spec.rules.1.filters.0",
}
TARGET_ALIASES = {
    "GRPC_POLICY": "BackendTrafficPolicy/sticky-sequences-grpc",
    "REST_POLICY": "BackendTrafficPolicy/sticky-sequences-rest",
    "GRPC_REFUSAL": "HTTPRouteFilter/missing-sequence-id-grpc",
    "REST_REFUSAL": "HTTPRouteFilter/missing-sequence-id-rest",
    "ADMIN_REFUSAL": "HTTPRouteFilter/per-replica-introspection",
}
REMOVE = "-"
# Each line breaks one thing, which the check on the left must report (the fragment on the right):
# check | object (Kind or Kind/name) | path (`+` appends to a list) | JSON value or `-` | fragment
BROKEN = """
core | StatefulSet | @container.livenesProbe | {} | livenesProbe
core | StatefulSet | spec.replicas | "3" | '3'
core | Service/model-server-0 | spec.ports.0.port | "grpc" | 'grpc'
core | ConfigMap | immutables | true | 'immutables'
crd | GRPC_POLICY | @hash.header.nam | "x" | 'nam'
crd | GRPC_POLICY | spec.loadBalancer.type | "ConsistentHashing" | ConsistentHashing
crd | HTTPRoute | spec.rule | [] | 'rule'
crd | REST_REFUSAL | @direct.statusCode | "400" | '400'
crd | GRPCRoute | spec.rules.0.matches.0.headers.0.type | "Regex" | 'Regex'
crd | Gateway | spec.listeners.0.protocol | - | 'protocol'
crd | Gateway | metadata.namespaces | "x" | namespaces
cel | GRPC_POLICY | @hash.header | - | header field must be set
cel | GRPC_POLICY | @hash.type | "Headers" | header field must
cel | GRPC_POLICY | spec.loadBalancer.consistentHash | - | consistentHash field needs
cel | GRPC_POLICY | spec.targetRef | {"group": "", "kind": "Service", "name": "x"} | either
cel | GRPC_REFUSAL | @direct.body.inline | - | inline must be set
cel | GRPCRoute | spec.rules.0.matches.0.method.method | "Predict/x" | method must only contain
cel | HTTPRoute | spec.rules.1.filters.0.extensionRef | - | extensionRef must be specified
cel | GRPCRoute | spec.rules.0.backendRefs.0.port | - | Must have port
cel | Gateway | spec.listeners.1.name | "grpc" | Listener name must be unique
references | GRPCRoute | spec.parentRefs.0.sectionName | "grpcs" | no listener grpcs
references | Gateway | spec.listeners.0.allowedRoutes.kinds.0.kind | "HTTPRoute" | allows only
references | HTTPRoute | spec.rules.0.backendRefs.0.port | 8001 | has no port 8001
references | HTTPRoute | spec.rules.2.filters.0.extensionRef.name | "admin" | admin does not exist
references | REST_POLICY | spec.targetRefs.0.name | "rest" | rest does not
references | Gateway | spec.gatewayClassName | "envoy" | GatewayClass does not exist
references | Service/model-server-0 | spec.selector.app | "x" | selects no model server pod
references | GRPCRoute | spec.rules.0.backendRefs.2.name | "model-server-0" | 'model-server-0']
references | HTTPRoute | spec.rules.3.backendRefs.0.name | "model-server-pods" | not one pod's
references | StatefulSet | spec.replicas | 4 | routes to
references | GRPC_POLICY | spec.routingType | - | routingType is not Service
references | Service/model-server-2 | spec.ports.1.targetPort | "http" | targetPort http
references | StatefulSet | spec.serviceName | "model-server" | headless
references | StatefulSet | @pod.volumes.0.configMap.name | "config" | not generated
references | StatefulSet | @container.env | - | HOME / is read-only
references | REST_POLICY | @hash.header.name | "x-session-id" | hashes x-session-id
nginx | GRPC_POLICY | @hash.header.name | "x-session-id" | nginx does not hash x-session-id
references | StatefulSet | @container.env.0.value | "/var/lib/model-server" | is read-only
cli | StatefulSet | @container.args+ | "--grpc_bind_adress=0.0.0.0" | does not exist
cli | StatefulSet | @container.args+ | ["--sequence_introspection", "true"] | unmatched arguments
cli | StatefulSet | @container.args+ | "--rest_bind_address=127.0.0.1" | loopback only
cli | StatefulSet | @container.args+ | "--rest_port=8080" | --rest_port
cli | StatefulSet | @container.args+ | "--kserve_sequence_extension=false" | kserve_sequence
cli | StatefulSet | @container.args+ | "--sequence_snapshot_path=/var/s" | volume claimed per pod
cli | StatefulSet | @container.args+ | "--config_path=/etc/model-server/m.json" | ConfigMap
shutdown | StatefulSet | @pod.terminationGracePeriodSeconds | 5 | no time for the snapshot
image | StatefulSet | @container.command | ["ovms"] | ENTRYPOINT
image | ConfigMap | data.config.json | "{\\"model_config_list\\": []}" | no model
image | ConfigMap | data.config.json | "{\\"model_config_list\\": [MODEL]}" | under /srv/m
nginx | GRPC_REFUSAL | @direct.body.inline | "no id" | gRPC refusal
nginx | REST_REFUSAL | @direct.body.inline | "no id" | REST refusal
nginx | ADMIN_REFUSAL | @direct.statusCode | 404 | /admin/ refusal
nginx | GRPCRoute | @refusal.responseHeaderModifier.set.0.value | "13" | grpc-status
nginx | HTTPRoute | spec.rules.0.matches.0.headers.0.value | "^[0-9]+$" | id pattern
"""
# A model whose base path the image does not have (the JSON of one config.json entry).
OUTSIDE_MODEL = '{\\"config\\": {\\"name\\": \\"m\\", \\"base_path\\": \\"/srv/m\\"}}'


def parse_broken(table: str) -> list[tuple[str, str, str, str, str]]:
    """The table's lines as (check, object, path, value, fragment), aliases expanded."""
    entries = []
    for line in table.strip().splitlines():
        check, target, path, value, fragment = (cell.strip() for cell in line.split(" | "))
        prefix, _, rest = path.partition(".")
        path = f"{PATH_ALIASES[prefix]}.{rest}" if prefix in PATH_ALIASES else path
        target = TARGET_ALIASES.get(target, target)
        entries.append((check, target, path, value.replace("MODEL", OUTSIDE_MODEL), fragment))
    return entries


def split_path(path: str) -> list[str | int]:
    """`a.0.b` as keys and list indexes; `data.config.json` keeps the file name whole."""
    keys: list[str | int] = []
    for key in re.split(r"\.(?!json)", path):
        keys.append(int(key) if key.isdigit() else key)
    return keys


def mutated(documents: list[Doc], target: str, path: str, value: str) -> list[Doc]:
    """A deep copy of the manifests with the value at `path` of `target` changed."""
    broken = copy.deepcopy(documents)
    kind, _, name = target.partition("/")
    *parents, last = split_path(path.rstrip("+"))
    node: Any = find(broken, kind, name or None)
    for key in parents:
        node = node[key]
    if value == REMOVE:
        del node[last]
    elif path.endswith("+"):
        new = json.loads(value)
        node[last] += new if isinstance(new, list) else [new]
    else:
        node[last] = json.loads(value)
    return broken


@pytest.mark.parametrize("check", CHECKS)
def test_manifests_pass_each_check(documents: list[Doc], check: str) -> None:
    """The manifests as committed have no problem in any check."""
    assert CHECKS[check](documents) == []


@pytest.mark.parametrize(
    ("check", "target", "path", "value", "expected"),
    [
        pytest.param(*entry, id=f"{entry[0]}: {entry[1]} {entry[2]}={entry[3]}")
        for entry in parse_broken(BROKEN)
    ],
)
def test_each_check_refuses_a_broken_copy(
    documents: list[Doc], check: str, target: str, path: str, value: str, expected: str
) -> None:
    """A broken copy is refused by the check that owns the breakage, with a message naming it."""
    problems = CHECKS[check](mutated(documents, target, path, value))
    assert any(expected in problem for problem in problems), problems


def test_every_check_has_broken_copies() -> None:
    """No check goes without a mutation that it must refuse."""
    assert {check for check, *_ in parse_broken(BROKEN)} == set(CHECKS)


def test_mirrored_cel_rules_are_upstream_rules(documents: list[Doc]) -> None:
    """Each rule mirrored in Python is a rule of the vendored CRDs, applied to these objects."""
    applied = {rule.get("message") for _, _, rule, _ in custom_rules(documents)}
    assert set(MIRRORED_CEL) <= applied, set(MIRRORED_CEL) - applied


def test_config_json_is_accepted_by_the_server() -> None:
    """config.json parses with the server's own parser; a misspelt key is refused."""
    text = (DEPLOY / "config.json").read_text(encoding="utf-8")
    assert config_problems(text) == []
    broken = text.replace('"stateful"', '"statefull"')
    assert broken != text and config_problems(broken) != []


def test_image_pins_are_the_repository_pins() -> None:
    """requirements-server.txt pins what requirements.txt pins; another version is refused."""
    image = (DEPLOY / "requirements-server.txt").read_text(encoding="utf-8")
    repository = (REPO_ROOT / "requirements.txt").read_text(encoding="utf-8")
    assert pin_problems(image, repository) == []
    pin = next(line for line in image.splitlines() if line.startswith("numpy=="))
    assert pin_problems(image.replace(pin, pin + ".1"), repository) == [
        f"{pin}.1 is not pinned so in requirements.txt"
    ]
    assert pin_problems(image + "tornado>=6\n", repository) != []


def test_kustomization_lists_every_manifest() -> None:
    """Every YAML file here is a resource of the kustomization, and every resource exists."""
    listed = set(load_kustomization()["resources"])
    present = {path.name for path in DEPLOY.glob("*.yaml")} - {"kustomization.yaml"}
    assert listed == present
    assert "routing.yaml" in present and "statefulset.yaml" in present


def test_probes_answer_on_a_running_server(
    documents: list[Doc], server: launcher.ServerHandle
) -> None:
    """The server run with the container's flags answers every probe with success."""
    assert probe_problems(documents, server) == []


PROBES_BROKEN = """
probes | StatefulSet | @container.readinessProbe.httpGet.path | "/v2/health/readyz" | answered 400
probes | StatefulSet | @container.startupProbe.httpGet.path | "/v2/models/x/ready" | answered 404
probes | StatefulSet | @container.livenessProbe.httpGet.port | "grpc" | not the REST port
"""


@pytest.mark.parametrize(
    ("target", "path", "value", "expected"),
    [pytest.param(*entry[1:], id=entry[2]) for entry in parse_broken(PROBES_BROKEN)],
)
def test_probes_refuse_a_broken_copy(
    documents: list[Doc],
    server: launcher.ServerHandle,
    target: str,
    path: str,
    value: str,
    expected: str,
) -> None:
    """A probe on a path or port where the server does not answer with success is refused."""
    problems = probe_problems(mutated(documents, target, path, value), server)
    assert any(expected in problem for problem in problems), problems


def test_sigterm_drains_and_snapshots_within_the_grace_period(
    documents: list[Doc], tmp_path: Path
) -> None:
    """SIGTERM with a live sequence: exit 0 and the snapshot written, inside the grace period."""
    assert sigterm_problems(documents, tmp_path) == []


def test_sigterm_check_refuses_a_pod_without_snapshots(
    documents: list[Doc], tmp_path: Path
) -> None:
    """The same run without --sequence_snapshot_path is refused: nothing would survive."""
    broken = copy.deepcopy(documents)
    args = server_container(broken)["args"]
    args.remove(next(arg for arg in args if arg.startswith("--sequence_snapshot_path")))
    problems = sigterm_problems(broken, tmp_path)
    assert problems == ["no snapshot of the live sequence was written at SIGTERM"]
