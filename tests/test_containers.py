"""docker-compose.yml and the Dockerfile agree with each other and with the Settings class."""

import json
import re
import shlex
from pathlib import Path
from typing import Any
from urllib.parse import SplitResult, unquote, urlsplit

import pytest
import yaml

from app.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
APP_SERVICES = ("api", "worker", "beat")
MONITORING_SERVICES = ("prometheus", "pushgateway", "grafana")
REQUIRED_SERVICES = ("postgres", "redis", "minio", "minio-init", "api", "worker", "beat", *MONITORING_SERVICES)
SHELL_OPERATORS = {";", "&&", "||", "|", "&", "(", ")", "\n"}

Compose = dict[str, Any]
Service = dict[str, Any]
Instruction = tuple[str, str]

_COMPOSE_VARIABLE = re.compile(r"\$\$|\$\{(\w+)(?::?-([^}]*))?\}|\$(\w+)")
_SHELL_VARIABLE = re.compile(r"^\$\{?(\w+)\}?$")
_HEALTHZ_URL = re.compile(r"https?://[^/\s'\"]+?(?::(\d+))?/healthz")


def interpolate(value: str) -> str:
    """Resolve compose variables as with an empty host environment: defaults apply, `$$` is `$`."""

    def replace(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        return match.group(2) or ""

    return _COMPOSE_VARIABLE.sub(replace, value)


def service(compose: Compose, name: str) -> Service:
    services: dict[str, Service] = compose.get("services") or {}
    assert name in services, f"docker-compose.yml has no service {name!r}"
    return services[name] or {}


def environment(svc: Service) -> dict[str, str]:
    raw = svc.get("environment") or {}
    if isinstance(raw, list):
        raw = dict(item.split("=", 1) if "=" in item else (item, "") for item in raw)
    return {str(key): "" if value is None else interpolate(str(value)) for key, value in raw.items()}


def command_args(svc: Service, key: str = "command") -> list[str]:
    raw = svc.get(key)
    if raw is None:
        return []
    if isinstance(raw, str):
        return shlex.split(interpolate(raw))
    return [interpolate(str(arg)) for arg in raw]


def option(args: list[str], *names: str) -> str | None:
    for index, arg in enumerate(args):
        for name in names:
            if arg == name and index + 1 < len(args):
                return args[index + 1]
            if arg.startswith(f"{name}="):
                return arg.split("=", 1)[1]
    return None


def port_of(address: str) -> int:
    """The port of `8000`, `:8000` or `0.0.0.0:8000`."""
    return int(address.rsplit(":", 1)[-1])


def depends_on(svc: Service) -> dict[str, str]:
    raw = svc.get("depends_on") or {}
    if isinstance(raw, list):
        return {name: "service_started" for name in raw}
    return {name: (spec or {}).get("condition", "service_started") for name, spec in raw.items()}


def published_ports(svc: Service) -> dict[int, str]:
    """Container port -> host port, from short (`[ip:]host:container[/proto]`) or long syntax."""
    ports: dict[int, str] = {}
    for entry in svc.get("ports") or []:
        if isinstance(entry, dict):
            ports[int(entry["target"])] = str(entry.get("published", ""))
            continue
        spec = str(entry).split("/", 1)[0]
        host, _, container = spec.rpartition(":")
        ports[int(container)] = host.rsplit(":", 1)[-1]
    return ports


def has_healthcheck(svc: Service) -> bool:
    check = svc.get("healthcheck") or {}
    return bool(check.get("test")) and not check.get("disable", False)


def healthcheck_text(svc: Service) -> str:
    test = (svc.get("healthcheck") or {}).get("test") or []
    return test if isinstance(test, str) else " ".join(str(part) for part in test)


def shell_commands(svc: Service) -> list[list[str]]:
    """The simple commands of a service's entrypoint + command, split at shell operators."""
    texts = command_args(svc, "entrypoint") + command_args(svc)
    commands: list[list[str]] = [[]]
    for text in texts:
        lexer = shlex.shlex(text, posix=True, punctuation_chars=True)
        lexer.whitespace_split = True
        for word in lexer:
            if word in SHELL_OPERATORS:
                commands.append([])
            else:
                commands[-1].append(word)
        commands.append([])
    return [command for command in commands if command]


def mc_calls(svc: Service, *subcommand: str) -> list[list[str]]:
    """Positional arguments of each `mc <subcommand...>` call, shell variables resolved."""
    env = environment(svc)
    calls: list[list[str]] = []
    for command in shell_commands(svc):
        for index, word in enumerate(command):
            if word.rsplit("/", 1)[-1] != "mc":
                continue
            rest = command[index + 1 :]
            if tuple(rest[: len(subcommand)]) != subcommand:
                continue
            args = [arg for arg in rest[len(subcommand) :] if not arg.startswith("-")]
            resolved = []
            for arg in args:
                variable = _SHELL_VARIABLE.match(arg)
                resolved.append(env.get(variable.group(1), "") if variable else arg)
            calls.append(resolved)
    return calls


def url_port(url: SplitResult, default: int) -> int:
    return url.port if url.port is not None else default


def parse_dockerfile(text: str) -> list[Instruction]:
    instructions: list[Instruction] = []
    current = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.endswith("\\"):
            current += line[:-1] + " "
            continue
        keyword, _, args = (current + line).partition(" ")
        instructions.append((keyword.upper(), args.strip()))
        current = ""
    return instructions


def stages(instructions: list[Instruction]) -> list[list[Instruction]]:
    result: list[list[Instruction]] = []
    for keyword, args in instructions:
        if keyword == "FROM":
            result.append([])
        if result:
            result[-1].append((keyword, args))
    return result


def exec_form(args: str) -> list[str]:
    if args.startswith("["):
        return [str(arg) for arg in json.loads(args)]
    return shlex.split(args)


def instruction_args(stage: list[Instruction], keyword: str) -> list[str]:
    return [args for kw, args in stage if kw == keyword]


def stage_env(stage: list[Instruction]) -> dict[str, str]:
    env: dict[str, str] = {}
    for args in instruction_args(stage, "ENV"):
        words = shlex.split(args)
        if words and "=" not in words[0]:
            env[words[0]] = " ".join(words[1:])
            continue
        env.update(word.split("=", 1) for word in words)
    return env


def settings_variables() -> set[str]:
    prefix = str(Settings.model_config.get("env_prefix", ""))
    return {f"{prefix}{name}".upper() for name in Settings.model_fields}


def api_listen_port(compose: Compose) -> int:
    api = service(compose, "api")
    port = option(command_args(api), "--port")
    if port is None:
        port = environment(api).get("SHIPYARD_PORT")
    return int(port) if port else int(Settings.model_fields["port"].default)


@pytest.fixture(scope="module")
def compose() -> Compose:
    loaded = yaml.safe_load((ROOT / "docker-compose.yml").read_text(encoding="utf-8"))
    assert isinstance(loaded, dict), "docker-compose.yml is not a YAML mapping"
    return loaded


@pytest.fixture(scope="module")
def runtime_stage() -> list[Instruction]:
    all_stages = stages(parse_dockerfile((ROOT / "Dockerfile").read_text(encoding="utf-8")))
    assert all_stages, "the Dockerfile has no FROM"
    return all_stages[-1]


def test_compose_has_no_obsolete_version_key(compose: Compose) -> None:
    assert "version" not in compose, "docker-compose.yml has an obsolete `version:` key"


@pytest.mark.parametrize("name", REQUIRED_SERVICES)
def test_service_exists(compose: Compose, name: str) -> None:
    service(compose, name)


def test_depends_on_targets_are_defined(compose: Compose) -> None:
    services: dict[str, Service] = compose["services"]
    for name, svc in services.items():
        for target, condition in depends_on(svc or {}).items():
            assert target in services, f"service {name!r} depends on undefined service {target!r}"
            if condition == "service_healthy":
                assert has_healthcheck(services[target] or {}), (
                    f"service {name!r} waits for {target!r} to be healthy, but {target!r} has no enabled healthcheck"
                )


@pytest.mark.parametrize("name", APP_SERVICES)
def test_shipyard_variables_are_settings_fields(compose: Compose, name: str) -> None:
    known = settings_variables()
    given = {key for key in environment(service(compose, name)) if key.startswith("SHIPYARD_")}
    unknown = sorted(given - known)
    assert not unknown, f"service {name!r} sets {unknown}, which are not fields of Settings"


@pytest.mark.parametrize("name", APP_SERVICES[1:])
def test_app_services_share_the_apis_environment(compose: Compose, name: str) -> None:
    api, other = environment(service(compose, "api")), environment(service(compose, name))
    differing = sorted(key for key in api.keys() | other.keys() if api.get(key) != other.get(key))
    assert not differing, f"api and {name} environments differ in {differing}"


@pytest.mark.parametrize("name", APP_SERVICES)
def test_app_services_wait_for_their_backends(compose: Compose, name: str) -> None:
    conditions = depends_on(service(compose, name))
    for backend in ("postgres", "redis"):
        assert conditions.get(backend) == "service_healthy", (
            f"service {name!r} depends on {backend!r} with {conditions.get(backend)!r}, not condition service_healthy"
        )
    assert conditions.get("minio-init") == "service_completed_successfully", (
        f"service {name!r} depends on 'minio-init' with {conditions.get('minio-init')!r}, "
        "not condition service_completed_successfully, so it may start before the bucket exists"
    )


def test_database_url_matches_postgres(compose: Compose) -> None:
    raw = environment(service(compose, "api")).get("SHIPYARD_DATABASE_URL", "")
    url = urlsplit(raw)
    postgres = service(compose, "postgres")
    env = environment(postgres)
    user = env.get("POSTGRES_USER", "postgres")
    database = env.get("POSTGRES_DB", user)
    port = int(option(command_args(postgres), "-p", "--port") or env.get("PGPORT") or 5432)

    assert url.scheme.split("+", 1)[0] in {"postgresql", "postgres"}, (
        f"SHIPYARD_DATABASE_URL {raw!r} is not a PostgreSQL URL"
    )
    assert url.hostname == "postgres", f"SHIPYARD_DATABASE_URL host {url.hostname!r} != service 'postgres'"
    assert url_port(url, 5432) == port, (
        f"SHIPYARD_DATABASE_URL port {url_port(url, 5432)} != postgres container port {port}"
    )
    assert unquote(url.username or "") == user, f"SHIPYARD_DATABASE_URL user {url.username!r} != POSTGRES_USER {user!r}"
    assert unquote(url.password or "") == env.get("POSTGRES_PASSWORD"), (
        "SHIPYARD_DATABASE_URL password != postgres POSTGRES_PASSWORD"
    )
    assert url.path.lstrip("/") == database, (
        f"SHIPYARD_DATABASE_URL database {url.path.lstrip('/')!r} != POSTGRES_DB {database!r}"
    )


def test_broker_url_points_at_redis(compose: Compose) -> None:
    raw = environment(service(compose, "api")).get("SHIPYARD_BROKER_URL", "")
    url = urlsplit(raw)
    port = int(option(command_args(service(compose, "redis")), "--port") or 6379)
    assert url.scheme in {"redis", "rediss"}, f"SHIPYARD_BROKER_URL {raw!r} is not a Redis URL"
    assert url.hostname == "redis", f"SHIPYARD_BROKER_URL host {url.hostname!r} != service 'redis'"
    assert url_port(url, 6379) == port, f"SHIPYARD_BROKER_URL port {url_port(url, 6379)} != redis port {port}"


def minio_api_port(compose: Compose) -> int:
    address = option(command_args(service(compose, "minio")), "--address")
    return port_of(address) if address else 9000


def test_s3_endpoint_points_at_minio(compose: Compose) -> None:
    raw = environment(service(compose, "api")).get("SHIPYARD_S3_ENDPOINT_URL", "")
    url = urlsplit(raw)
    port = minio_api_port(compose)
    console = option(command_args(service(compose, "minio")), "--console-address")
    assert url.hostname == "minio", f"SHIPYARD_S3_ENDPOINT_URL host {url.hostname!r} != service 'minio'"
    assert url_port(url, 443 if url.scheme == "https" else 80) == port, (
        f"SHIPYARD_S3_ENDPOINT_URL port {url.port} != minio S3 API port {port}"
    )
    assert console is None or port_of(console) != port, (
        f"minio console address {console!r} collides with its S3 API port {port}"
    )


def test_minio_init_creates_the_artifact_bucket(compose: Compose) -> None:
    init = service(compose, "minio-init")
    minio_env = environment(service(compose, "minio"))
    aliases = {call[0]: call[1:] for call in mc_calls(init, "alias", "set") if call}
    buckets = [call[0] for call in mc_calls(init, "mb") if call]
    assert buckets, "minio-init runs no `mc mb`"

    raw = environment(service(compose, "api")).get("SHIPYARD_ARTIFACT_URI", "")
    artifact_uri = urlsplit(raw)
    assert artifact_uri.scheme == "s3", f"SHIPYARD_ARTIFACT_URI {raw!r} is not an s3:// URI"

    created = {}
    for target in buckets:
        alias, _, bucket = target.partition("/")
        created[bucket.split("/", 1)[0]] = alias
    assert artifact_uri.netloc in created, (
        f"SHIPYARD_ARTIFACT_URI bucket {artifact_uri.netloc!r} is not one minio-init creates ({sorted(created)})"
    )

    alias = created[artifact_uri.netloc]
    assert alias in aliases, f"minio-init makes the bucket on alias {alias!r}, never `mc alias set`"
    alias_args = aliases[alias]
    assert len(alias_args) >= 3, f"`mc alias set {alias}` lacks a URL or credentials: {alias_args}"
    alias_url = urlsplit(alias_args[0])
    assert alias_url.hostname == "minio", f"minio-init alias {alias!r} host {alias_url.hostname!r} != 'minio'"
    api_port = minio_api_port(compose)
    assert alias_url.port == api_port, (
        f"minio-init alias {alias!r} port {alias_url.port} != minio S3 API port {api_port}"
    )
    assert alias_args[1] == minio_env.get("MINIO_ROOT_USER"), (
        f"minio-init access key {alias_args[1]!r} != minio MINIO_ROOT_USER"
    )
    assert alias_args[2] == minio_env.get("MINIO_ROOT_PASSWORD"), "minio-init secret key != minio MINIO_ROOT_PASSWORD"


@pytest.mark.parametrize("name", APP_SERVICES)
def test_aws_keys_are_minio_root_credentials(compose: Compose, name: str) -> None:
    env = environment(service(compose, name))
    minio_env = environment(service(compose, "minio"))
    assert env.get("AWS_ACCESS_KEY_ID") == minio_env.get("MINIO_ROOT_USER"), (
        f"{name} AWS_ACCESS_KEY_ID {env.get('AWS_ACCESS_KEY_ID')!r} != "
        f"minio MINIO_ROOT_USER {minio_env.get('MINIO_ROOT_USER')!r}"
    )
    assert env.get("AWS_SECRET_ACCESS_KEY") == minio_env.get("MINIO_ROOT_PASSWORD"), (
        f"{name} AWS_SECRET_ACCESS_KEY != minio MINIO_ROOT_PASSWORD"
    )


def test_api_publishes_its_listening_port(compose: Compose) -> None:
    api = service(compose, "api")
    args = command_args(api)
    assert args[:2] == ["shipyard", "server"], f"api command {args} does not run `shipyard server`"
    port = api_listen_port(compose)
    published = published_ports(api)
    assert port in published, f"api listens on {port} but publishes container ports {sorted(published)}"

    env_port = environment(api).get("SHIPYARD_PORT")
    assert env_port is None or int(env_port) == port, f"api SHIPYARD_PORT {env_port} != port {port} in its command"

    check = healthcheck_text(api)
    if check:
        match = _HEALTHZ_URL.search(check)
        assert match, f"api healthcheck {check!r} does not call /healthz"
        assert int(match.group(1) or 80) == port, (
            f"api healthcheck calls port {match.group(1)}, but the api listens on {port}"
        )


def test_worker_runs_shipyard_worker(compose: Compose) -> None:
    args = command_args(service(compose, "worker"))
    assert args[:2] == ["shipyard", "worker"], f"worker command {args} does not run `shipyard worker`"


def test_beat_runs_shipyard_beat(compose: Compose) -> None:
    args = command_args(service(compose, "beat"))
    assert args[:2] == ["shipyard", "beat"], f"beat command {args} does not run `shipyard beat`"


def test_dockerfile_is_multi_stage() -> None:
    instructions = parse_dockerfile((ROOT / "Dockerfile").read_text(encoding="utf-8"))
    froms = instruction_args(instructions, "FROM")
    assert len(froms) >= 2, f"the Dockerfile has {len(froms)} FROM stage(s), expected at least 2"

    names = {args.split()[-1] for args in froms if " as " in args.lower()}
    for args in instruction_args(stages(instructions)[-1], "COPY"):
        source = option(args.split(), "--from")
        assert source is None or source in names or source.isdigit(), (
            f"the runtime stage copies from {source!r}, which is not a stage ({sorted(names)})"
        )


def test_dockerfile_runs_as_non_root(runtime_stage: list[Instruction]) -> None:
    users = instruction_args(runtime_stage, "USER")
    assert users, "the runtime stage has no USER, so the container runs as root"
    user = users[-1].split(":", 1)[0]
    assert user not in {"root", "0"}, f"the runtime stage runs as USER {users[-1]!r}"


def dockerfile_port(runtime_stage: list[Instruction]) -> int:
    exposed = [
        int(word.split("/", 1)[0]) for args in instruction_args(runtime_stage, "EXPOSE") for word in args.split()
    ]
    assert len(exposed) == 1, f"the runtime stage should EXPOSE exactly one port, not {exposed}"
    return exposed[0]


def test_dockerfile_exposes_the_api_port(compose: Compose, runtime_stage: list[Instruction]) -> None:
    exposed = dockerfile_port(runtime_stage)
    api_port = api_listen_port(compose)
    assert exposed == api_port, f"the Dockerfile EXPOSEs {exposed}, the compose api listens on {api_port}"

    env_port = stage_env(runtime_stage).get("SHIPYARD_PORT")
    assert env_port is None or int(env_port) == exposed, (
        f"the Dockerfile sets SHIPYARD_PORT={env_port} but EXPOSEs {exposed}"
    )


def test_dockerfile_healthcheck_hits_healthz(runtime_stage: list[Instruction]) -> None:
    checks = instruction_args(runtime_stage, "HEALTHCHECK")
    assert checks, "the runtime stage has no HEALTHCHECK"
    match = re.match(r"^(?:--\S+\s+)*CMD\s+(.+)$", checks[-1], flags=re.IGNORECASE)
    assert match, f"HEALTHCHECK {checks[-1]!r} has no CMD"
    command = " ".join(exec_form(match.group(1)))
    url = _HEALTHZ_URL.search(command)
    assert url, f"HEALTHCHECK {command!r} does not call /healthz"
    exposed = dockerfile_port(runtime_stage)
    assert int(url.group(1) or 80) == exposed, (
        f"HEALTHCHECK calls port {url.group(1)}, but the Dockerfile EXPOSEs {exposed}"
    )
    program = command.split()[0].rsplit("/", 1)[-1]
    assert program not in {"curl", "wget"}, f"HEALTHCHECK uses {program!r}, which python:3.11-slim does not ship"


def test_dockerfile_cmd_runs_the_server(runtime_stage: list[Instruction]) -> None:
    assert not instruction_args(runtime_stage, "ENTRYPOINT"), (
        "the runtime stage sets an ENTRYPOINT, so compose `command:` would be appended to it"
    )
    cmds = instruction_args(runtime_stage, "CMD")
    assert cmds, "the runtime stage has no CMD"
    args = exec_form(cmds[-1])
    assert args[:2] == ["shipyard", "server"], f"the Dockerfile CMD {args} does not run `shipyard server`"


def test_dockerfile_shipyard_variables_are_settings_fields(
    runtime_stage: list[Instruction],
) -> None:
    given = {key for key in stage_env(runtime_stage) if key.startswith("SHIPYARD_")}
    unknown = sorted(given - settings_variables())
    assert not unknown, f"the Dockerfile sets {unknown}, which are not fields of Settings"


# ---- monitoring: Prometheus, the Pushgateway and Grafana ----------------------------------------


def bind_mounts(svc: Service) -> dict[str, Path]:
    """Container path -> the repository file or folder bind-mounted there (short syntax)."""
    mounts: dict[str, Path] = {}
    for entry in svc.get("volumes") or []:
        source, _, rest = str(entry).partition(":")
        if source.startswith("."):
            mounts[rest.split(":", 1)[0]] = (ROOT / source).resolve()
    return mounts


def mounted_file(svc: Service, container_path: str) -> Path:
    """The repository file a service sees at `container_path` (mounted itself or in a folder)."""
    for target, source in bind_mounts(svc).items():
        if container_path == target or container_path.startswith(target.rstrip("/") + "/"):
            path = source / Path(container_path).relative_to(target) if container_path != target else source
            assert path.exists(), f"{container_path} is mounted from {path}, which does not exist"
            return path
    pytest.fail(f"nothing in the repository is mounted at {container_path}: {bind_mounts(svc)}")


def listen_port(svc: Service, flag: str, default: int) -> int:
    address = option(command_args(svc), flag)
    return port_of(address) if address else default


def prometheus_config(compose: Compose) -> tuple[Path, dict[str, Any]]:
    prometheus = service(compose, "prometheus")
    config_path = option(command_args(prometheus), "--config.file") or "/etc/prometheus/prometheus.yml"
    path = mounted_file(prometheus, config_path)
    loaded = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert isinstance(loaded, dict), f"{path} is not a YAML mapping"
    return Path(config_path), loaded


def scrape_targets(config: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """host:port -> the scrape config that scrapes it."""
    targets: dict[str, dict[str, Any]] = {}
    for job in config.get("scrape_configs") or []:
        for static in job.get("static_configs") or []:
            for target in static.get("targets") or []:
                targets[str(target)] = job
    return targets


@pytest.mark.parametrize("name", MONITORING_SERVICES)
def test_monitoring_images_are_pinned_to_a_version(compose: Compose, name: str) -> None:
    image = str(service(compose, name).get("image", ""))
    repository, _, tag = image.rpartition(":")
    assert repository, f"{name} image {image!r} has no tag"
    assert "/" not in tag, f"{name} image {image!r} has no tag"
    assert re.fullmatch(r"v?\d+\.\d+\.\d+", tag), f"{name} image {image!r} is not pinned to a version"


def test_prometheus_scrapes_the_api_and_the_pushgateway(compose: Compose) -> None:
    config_path, config = prometheus_config(compose)
    targets = scrape_targets(config)
    api = f"api:{api_listen_port(compose)}"
    assert api in targets, f"Prometheus scrapes {sorted(targets)}, not the api at {api}"
    assert targets[api].get("metrics_path", "/metrics") == "/metrics"
    assert "api" in json.loads(environment(service(compose, "api"))["SHIPYARD_ALLOWED_HOSTS"]), (
        "the api does not serve the Host Prometheus sends"
    )

    gateway = f"pushgateway:{listen_port(service(compose, 'pushgateway'), '--web.listen-address', 9091)}"
    assert gateway in targets, f"Prometheus scrapes {sorted(targets)}, not the Pushgateway at {gateway}"
    assert targets[gateway].get("honor_labels") is True, "without honor_labels the workers' job and instance are lost"

    prometheus = service(compose, "prometheus")
    rule_files = config.get("rule_files") or []
    assert rule_files, "Prometheus loads no alert rules"
    for rule_file in rule_files:
        mounted = mounted_file(prometheus, str(config_path.parent / rule_file))
        assert mounted == (ROOT / "deploy" / "prometheus" / "alerts.yml").resolve(), mounted


def test_workers_push_to_the_pushgateway(compose: Compose) -> None:
    raw = environment(service(compose, "worker")).get("SHIPYARD_PUSHGATEWAY_URL", "")
    url = urlsplit(raw)
    port = listen_port(service(compose, "pushgateway"), "--web.listen-address", 9091)
    assert url.scheme == "http", f"SHIPYARD_PUSHGATEWAY_URL {raw!r} is not an http:// URL"
    assert url.hostname == "pushgateway", f"SHIPYARD_PUSHGATEWAY_URL host {url.hostname!r} != service 'pushgateway'"
    assert url_port(url, 80) == port, f"SHIPYARD_PUSHGATEWAY_URL port {url.port} != the Pushgateway's {port}"


def test_the_pushgateway_and_prometheus_are_not_published_beyond_loopback(compose: Compose) -> None:
    assert not service(compose, "pushgateway").get("ports"), "the Pushgateway takes pushes from anyone who reaches it"
    for name in ("prometheus", "grafana"):
        for entry in service(compose, name).get("ports") or []:
            assert str(entry).startswith("127.0.0.1:"), f"{name} publishes {entry!r} beyond loopback"


def test_grafana_is_provisioned_with_prometheus_and_the_dashboard(compose: Compose) -> None:
    grafana = service(compose, "grafana")
    datasources_dir = mounted_file(grafana, "/etc/grafana/provisioning/datasources")
    datasources = [
        source
        for path in sorted(datasources_dir.glob("*.yml"))
        for source in (yaml.safe_load(path.read_text(encoding="utf-8")) or {}).get("datasources", [])
    ]
    prometheus = [source for source in datasources if source.get("type") == "prometheus"]
    assert len(prometheus) == 1, datasources
    url = urlsplit(str(prometheus[0]["url"]))
    assert (url.hostname, url.port) == ("prometheus", 9090), f"the Grafana datasource points at {url.geturl()}"

    providers_dir = mounted_file(grafana, "/etc/grafana/provisioning/dashboards")
    providers = [
        provider
        for path in sorted(providers_dir.glob("*.yml"))
        for provider in (yaml.safe_load(path.read_text(encoding="utf-8")) or {}).get("providers", [])
    ]
    assert providers, "Grafana provisions no dashboards"
    dashboards = sorted(mounted_file(grafana, str(providers[0]["options"]["path"])).glob("*.json"))
    assert [path.name for path in dashboards] == ["shipyard.json"]

    # Every panel and query of the dashboard asks the provisioned datasource.
    board = json.loads(dashboards[0].read_text(encoding="utf-8"))
    uids = set()
    for panel in board["panels"]:
        for holder in (panel, *panel.get("targets", [])):
            if "datasource" in holder:
                uids.add(holder["datasource"]["uid"])
    for variable in board.get("templating", {}).get("list", []):
        uids.add(variable["datasource"]["uid"])
    assert uids == {prometheus[0]["uid"]}
