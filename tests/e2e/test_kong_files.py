"""The Kong files users copy (kong/): the config schema Kong validates filter configuration with
(mtls_headers.meta.json) against the filter's own verdicts, and kong.conf / kong.yml / docker-compose.yml against
each other and against the filter, run in the Wasm host's Kong profile.

No Kong binary can be installed here; what Kong does with these files is from its docs and source (kong/README.md,
Sources). The schema is checked with a draft-4 validator, the draft Kong's lua-resty-ljsonschema implements.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import harness
import jsonschema
import pytest
import wasmhost as wh
import yaml
from cases import INVALID_CONFIGS, VALID_CONFIGS, TOKEN, assert_owned, baas

KONG = harness.REPO / "kong"
FILTER = "mtls_headers"  # Kong names a filter after its .wasm file (wasm_filters_path)


@pytest.fixture(scope="module")
def validator() -> jsonschema.Draft4Validator:
    meta = json.loads((KONG / f"{FILTER}.meta.json").read_text())
    assert list(meta) == ["config_schema"], "Kong reads <filter>.meta.json as {\"config_schema\": <schema>}"
    schema = meta["config_schema"]
    jsonschema.Draft4Validator.check_schema(schema)
    return jsonschema.Draft4Validator(schema)


def kong_conf() -> dict[str, str]:
    settings = {}
    for line in (KONG / "kong.conf").read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            key, _, value = line.partition("=")
            settings[key.strip()] = value.split("#", 1)[0].strip()
    return settings


def kong_yml() -> dict:
    return yaml.safe_load((KONG / "kong.yml").read_text())


def filter_configs() -> list[tuple[str, dict]]:
    """Every mtls_headers configuration in kong.yml: filter_chains entries and 3.9 plugin entries."""
    found = []

    def walk(node, where):
        if isinstance(node, dict):
            for chain in node.get("filter_chains", []):
                for f in chain["filters"]:
                    found.append((f"{where}/filter_chains/{f['name']}", f))
            for plugin in node.get("plugins", []):
                # Other plugins (the global pre-function) are Kong's own.
                if plugin["name"] == FILTER:
                    found.append((f"{where}/plugins/{plugin['name']}", plugin))
            for key, value in node.items():
                walk(value, f"{where}/{node.get('name', key)}")
        elif isinstance(node, list):
            for item in node:
                walk(item, where)

    walk(kong_yml(), "")
    return found


def example_configs() -> list[tuple[str, dict]]:
    """Every filter configuration the repository shows users: kong.yml, envoy.yaml, README.md's JSON examples."""
    examples = [(where, entry["config"]) for where, entry in filter_configs()]
    envoy = (harness.REPO / "envoy" / "envoy.yaml").read_text()
    for i, m in enumerate(re.finditer(r"value: \|\n\s*(\{.*\})\n", envoy)):
        examples.append((f"envoy.yaml#{i}", json.loads(m.group(1))))
    for readme in (harness.REPO / "README.md", KONG / "README.md"):
        for i, block in enumerate(re.findall(r"```json\n(.*?)```", readme.read_text(), re.S)):
            examples.append((f"{readme.relative_to(harness.REPO)}#json{i}", json.loads(block)))
    return examples


def test_examples_found():
    names = [n for n, _ in example_configs()]
    assert any("filter_chains" in n for n in names) and any("plugins" in n for n in names), names
    assert any(n.startswith("envoy.yaml") for n in names), names


@pytest.mark.parametrize("case", INVALID_CONFIGS, ids=lambda c: c["id"])
def test_schema_rejects_what_the_filter_rejects(case, validator):
    """Kong's Admin API refuses these before the filter sees them. The few a draft-4 schema cannot see are named
    in the table with the reason; the schema must then really accept them, so the table stays true."""
    if "raw" in case:
        try:
            config = json.loads(case["raw"])
        except json.JSONDecodeError:
            assert case["schema"] != "reject"
            return
    else:
        config = case["config"]
    errors = list(validator.iter_errors(config))
    if case["schema"] == "reject":
        assert errors, f"the schema accepts {config}, which the filter refuses (field {case['field']})"
    else:
        assert not errors, f"the schema now rejects {case['id']}: set its \"schema\" to \"reject\""


@pytest.mark.parametrize("case", VALID_CONFIGS, ids=lambda c: c["id"])
def test_schema_accepts_what_the_filter_accepts(case, validator):
    errors = [e.message for e in validator.iter_errors(case["config"])]
    assert not errors, errors


def test_schema_accepts_every_example(validator):
    for where, config in example_configs():
        errors = [e.message for e in validator.iter_errors(config)]
        assert not errors, f"{where}: {errors}"


def test_kong_conf():
    conf = kong_conf()
    assert conf["wasm"] == "on"
    assert conf["nginx_proxy_ssl_verify_client"] in ("on", "optional", "optional_no_ca")
    assert conf["nginx_proxy_ssl_client_certificate"], "nginx refuses on/optional without a CA bundle"
    assert int(conf["nginx_proxy_ssl_verify_depth"]) >= 1
    assert "ssl" in conf["proxy_listen"].split()
    # Every variable a shipped config reads with validate_token_env must survive nginx's environment clearing.
    main_env = conf["nginx_main_env"].split()
    for where, entry in filter_configs():
        var = entry["config"].get("validate_token_env")
        assert var is None or var in main_env, f"{where}: {var} is not in nginx_main_env"


def test_kong_yml_attaches_the_filter_both_ways():
    doc = kong_yml()
    assert doc["_format_version"] == "3.0"
    entries = filter_configs()
    assert {e["name"] for _, e in entries} == {FILTER}
    assert any("/filter_chains/" in w for w, _ in entries) and any("/plugins/" in w for w, _ in entries)
    # Kong: a filter chain belongs to a route or a service, at most one per route or service.
    for service in doc["services"]:
        for route in service.get("routes", []):
            assert len(route.get("filter_chains", [])) <= 1
            # Both forms on one route would run the filter twice.
            assert not (route.get("filter_chains") and any(p["name"] == FILTER for p in route.get("plugins", [])))


def test_compose_mounts_what_kong_conf_names():
    compose = yaml.safe_load((KONG / "docker-compose.yml").read_text())
    kong = compose["services"]["kong"]
    assert kong["image"] == "kong:3.9"  # the last open-source image with proxy-wasm
    mounts = {m.split(":")[1]: m.split(":")[0] for m in kong["volumes"]}
    conf = kong_conf()
    assert mounts[conf["wasm_filters_path"]] == "./filters"
    assert mounts["/etc/kong/kong.conf"] == "./kong.conf"
    assert mounts[conf["declarative_config"]] == "./kong.yml"
    for key in ("ssl_cert", "ssl_cert_key", "nginx_proxy_ssl_client_certificate"):
        directory = str(Path(conf[key]).parent)
        assert mounts[directory] == "./certs", key
    for var in conf["nginx_main_env"].split():
        assert var in kong["environment"], f"{var} is not passed to the container"


@pytest.fixture
def host(wasm_host):
    return wasm_host


@pytest.mark.parametrize("where,entry", filter_configs(), ids=lambda x: x if isinstance(x, str) else "")
def test_shipped_configs_run_on_kong(where, entry, host, wasm, certs):
    """Each kong.yml config in the Kong profile, as Kong re-serialises it, with the environment nginx leaves the
    workers under kong.conf's nginx_main_env: forged headers out, alice's identity in. Without nginx_main_env the
    token variable is gone, on_configure fails and Kong answers 500."""
    config = json.dumps(entry["config"])
    process_env = {"MTLS_HEADERS_VALIDATE_TOKEN": TOKEN, "HOME": "/home/kong"}
    worker_env = {k: v for k, v in process_env.items() if k in kong_conf()["nginx_main_env"].split()}
    out = host.run(wh.scenario(wasm, "kong", config, wh.connection(certs, "alice"),
                               [("/", False, [("X-SSL-Client-CN", "admin"), ("x_ssl_client_cn", "admin")])],
                               worker_env))
    assert out["configured"], out["logs"]
    assert_owned(wh.results(out)[0], baas("alice")(certs))

    if "validate_token_env" in entry["config"]:
        out = host.run(wh.scenario(wasm, "kong", config, wh.connection(certs, "alice"), [("/", False, [])], {}))
        assert not out["configured"]
        assert out["exchanges"][0]["reply"]["status"] == 500


def test_kong_yml_clears_owned_headers_before_the_filter():
    """The global pre-function plugin carries kong/clear-owned-headers.lua verbatim: the code the real-host tests
    run in front of the filter (test_ngx_wasm.py)."""
    doc = kong_yml()
    (pre,) = [p for p in doc.get("plugins", []) if p["name"] == "pre-function"]
    assert pre["config"]["access"] == [(KONG / "clear-owned-headers.lua").read_text()]
