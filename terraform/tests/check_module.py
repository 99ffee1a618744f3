"""Checks the terraform module and example without providers (no registry is reachable
here, so `terraform validate` cannot run): every file parses as HCL2 (python-hcl2), the
module's interface is documented and typed, the example passes only what the module
declares and uses only outputs it has, and the security properties the module promises
hold: a private, uniformly controlled bucket, a brokers' identity limited to that bucket's
objects, and a Workload Identity binding to the ServiceAccount the operator creates (named
after the RustMQCluster). checkov, run next to this script, scans the same files against
its policy library."""

import pathlib
import re
import sys

import hcl2
import yaml

ROOT = pathlib.Path(__file__).resolve().parents[1]
REPO = ROOT.parent
MODULE = ROOT / "modules" / "rustmq-gke"
EXAMPLE = ROOT / "examples" / "gke"

failures = []


def check(ok, message):
    if not ok:
        failures.append(message)


def load(directory):
    """Every .tf file of a directory, parsed and merged by block type."""
    merged = {}
    for path in sorted(directory.glob("*.tf")):
        with path.open() as f:
            try:
                doc = hcl2.load(f)
            except Exception as e:  # the parser raises several types
                failures.append(f"{path.relative_to(REPO)} does not parse: {e}")
                continue
        for key, blocks in doc.items():
            merged.setdefault(key, []).extend(blocks)
    return merged


def named(blocks):
    """[{name: body}, ...] -> {name: body}"""
    out = {}
    for b in blocks:
        out.update(b)
    return out


def resources(doc):
    out = {}
    for block in doc.get("resource", []):
        for rtype, by_name in block.items():
            for name, body in by_name.items():
                out[f"{rtype}.{name}"] = body
    return out


def text(v):
    return v if isinstance(v, str) else repr(v)


def attr(body, key, default=None):
    """An attribute's value (python-hcl2 wraps each in a one-element list)."""
    v = body.get(key, default)
    if isinstance(v, list) and len(v) == 1:
        return v[0]
    return v


def keys(body):
    return {k for k in body if not k.startswith("__")}


module = load(MODULE)
example = load(EXAMPLE)

# The module's interface: typed and documented.
variables = named(module.get("variable", []))
outputs = named(module.get("output", []))
for name, body in variables.items():
    check("description" in body, f"variable {name} has no description")
    check("type" in body, f"variable {name} has no type")
for name, body in outputs.items():
    check("description" in body, f"output {name} has no description")
check(
    any("required_providers" in t for t in module.get("terraform", [])),
    "the module pins its providers",
)

# The example calls the module with what it declares and nothing else.
modules = named(example.get("module", []))
call = modules.get("rustmq")
check(call is not None, "the example uses the module as module.rustmq")
if call:
    source = attr(call, "source", "")
    check((EXAMPLE / source).resolve() == MODULE, f"module source {source} is the module")
    passed = {k for k in keys(call) if k not in ("source", "version", "providers", "depends_on")}
    check(passed <= set(variables), f"unknown module inputs {passed - set(variables)}")
    required = {n for n, b in variables.items() if "default" not in b}
    check(required <= passed, f"required module inputs not passed: {required - passed}")
example_text = "\n".join(p.read_text() for p in EXAMPLE.glob("*.tf"))
used = set(re.findall(r"module\.rustmq\.([a-z_]+)", example_text))
check(used <= set(outputs), f"the example uses outputs the module lacks: {used - set(outputs)}")
chart = re.search(r'chart\s*=\s*"\$\{path\.module\}/([^"]+)"', example_text)
check(chart is not None, "the example installs the chart from this repository")
if chart:
    check((EXAMPLE / chart.group(1) / "Chart.yaml").exists(), f"chart {chart.group(1)} exists")

# Security properties.
res = resources(module)
bucket = res.get("google_storage_bucket.data", {})
check(attr(bucket, "uniform_bucket_level_access") is True, "the bucket uses uniform access")
check(attr(bucket, "public_access_prevention") == "enforced", "public access is prevented")
lifecycle = text(bucket.get("lifecycle_rule"))
check("AbortIncompleteMultipartUpload" in lifecycle, "half-done uploads are cleaned up")
check("retention_policy" in text(bucket.get("dynamic")), "an optional retention policy exists")

broker_bindings = [
    (k, v)
    for k, v in res.items()
    if "google_service_account.brokers" in text(attr(v, "member", ""))
]
check(broker_bindings, "the brokers' service account has a binding")
for key, body in broker_bindings:
    check(
        key.startswith("google_storage_bucket_iam_member."),
        f"{key}: the brokers' identity is granted on the bucket only, not the project",
    )
    check(attr(body, "role") == "roles/storage.objectUser", f"{key}: least role objectUser")
wi = res.get("google_service_account_iam_member.workload_identity", {})
check(attr(wi, "role") == "roles/iam.workloadIdentityUser", "Workload Identity binding exists")
check(
    "[${var.kubernetes_namespace}/${var.rustmq_cluster_name}]" in text(attr(wi, "member")),
    "Workload Identity binds <namespace>/<RustMQCluster name>",
)
names_rs = (REPO / "operator" / "src" / "cluster" / "names.rs").read_text()
check(
    re.search(r"fn service_account\(&self\) -> String \{\s*self\.cluster\.clone\(\)", names_rs)
    is not None,
    "the operator names the pods' ServiceAccount after the RustMQCluster (what the binding expects)",
)
for pool in ("brokers", "controllers"):
    body = res.get(f"google_container_node_pool.{pool}", {})
    cfg = text(body.get("node_config"))
    check("GKE_METADATA" in cfg, f"{pool} pool: Workload Identity metadata server")
    check("google_service_account.nodes" in cfg, f"{pool} pool: dedicated node account")
cluster = res.get("google_container_cluster.this", {})
check("workload_identity_config" in cluster, "the cluster enables Workload Identity")
check(attr(cluster, "location") == "${var.region}", "the cluster is regional")

# The placement the module outputs matches fields the RustMQCluster CRD has.
crd = yaml.safe_load((REPO / "crds" / "rustmq.io_rustmqclusters.yaml").read_text())
spec = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"]
for component in ("brokers", "controllers"):
    props = spec[component]["properties"]
    for field in ("nodeSelector", "tolerations"):
        check(field in props, f"CRD spec.{component}.{field} exists (the module outputs it)")
for field in ("bucket", "prefix", "googleServiceAccount"):
    check(
        field in spec["objectStorage"]["properties"]["gcs"]["properties"],
        f"CRD spec.objectStorage.gcs.{field} exists",
    )

if failures:
    print("terraform checks failed:")
    for f in failures:
        print("  -", f)
    sys.exit(1)
print(f"terraform: {len(variables)} variables, {len(outputs)} outputs, {len(res)} resources checked")
