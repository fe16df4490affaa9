"""deploy/ (issue 13 item 7) agrees with the code: the commands and options it runs exist, the variables it
sets are ones slaclock reads, the healthcheck path is a route, and the database sits on the shared volume.
Nothing is built or started here."""
import re
import shlex
import tomllib
from pathlib import Path, PurePosixPath

import pytest
import yaml

from app import create_app, parser
from jobs.worker import STOP_GRACE_SECONDS
from tests.test_cli import STOP_LIMIT_SECONDS

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"
UNITS = ("slaclock-serve.service", "slaclock-worker.service")
# Variables the deploy files may set that are not slaclock's: Python's and pip's own switches.
RUNTIME_VARIABLES = {"PYTHONDONTWRITEBYTECODE", "PYTHONUNBUFFERED", "PIP_NO_CACHE_DIR", "PIP_DISABLE_PIP_VERSION_CHECK"}


def variables_slaclock_reads() -> set[str]:
    """Every SLACLOCK_/ZENDESK_/JIRA_ name quoted in the code, and every one .env.example documents."""
    names = set(re.findall(r"^#?\s*([A-Z][A-Z0-9_]+)=", (ROOT / ".env.example").read_text(), re.M))
    for path in ROOT.glob("**/*.py"):
        if not {"tests", "bench", "sandbox"} & set(path.relative_to(ROOT).parts):
            names |= set(re.findall(r"""["']((?:SLACLOCK|ZENDESK|JIRA)_[A-Z0-9_]+)["']""", path.read_text()))
    return names


def assert_runs(argv: list[str], where: str):
    """`slaclock <argv>` parses: the subcommand and every option exist and their values are accepted."""
    try:
        args = parser().parse_args(argv)
    except SystemExit:
        pytest.fail(f"{where}: `slaclock {' '.join(argv)}` is not a valid slaclock command line")
    assert args.func, where


def unit(name: str) -> dict[str, list[str]]:
    """A systemd unit's settings (all sections), each key with every value it is given, in order."""
    settings: dict[str, list[str]] = {}
    for line in (DEPLOY / name).read_text().splitlines():
        line = line.strip()
        if line and not line.startswith(("#", ";", "[")):
            key, _, value = line.partition("=")
            settings.setdefault(key.strip(), []).append(value.strip())
    return settings


def unit_environment(settings: dict[str, list[str]]) -> dict[str, str]:
    return dict(shlex.split(v)[0].split("=", 1) for v in settings.get("Environment", []))


def dockerfile() -> list[tuple[str, str]]:
    """The Dockerfile's instructions as (INSTRUCTION, arguments), continuation lines joined."""
    text = re.sub(r"\\\n", " ", (DEPLOY / "Dockerfile").read_text())
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1] if " " in line.strip() else "")
            for line in (raw.strip() for raw in text.splitlines()) if line and not line.startswith("#")]


def compose() -> dict:
    return yaml.safe_load((DEPLOY / "compose.yaml").read_text())


@pytest.fixture(scope="module")
def routes(tmp_path_factory):
    from rules import load_rules
    from store import Store

    app = create_app({"STORE": Store(tmp_path_factory.mktemp("deploy") / "s.db"), "RULES": load_rules(),
                      "CONNECTORS": {}})
    return {rule.rule for rule in app.url_map.iter_rules()}


# --- Dockerfile -------------------------------------------------------------------------------------

def test_dockerfile_is_python_3_11_slim_non_root_and_runs_slaclock():
    steps = dockerfile()
    kinds = [kind for kind, _ in steps]
    assert steps[0] == ("FROM", "python:3.11-slim")
    user = [args for kind, args in steps if kind == "USER"]
    assert user and user[-1].split(":")[0] not in ("root", "0")
    assert any(kind == "RUN" and "pip install" in args for kind, args in steps), "the package is installed"
    assert kinds.index("USER") > max(i for i, k in enumerate(kinds) if k == "RUN"), "nothing runs as root after USER"
    entrypoint = [yaml.safe_load(args) for kind, args in steps if kind == "ENTRYPOINT"][-1]
    command = [yaml.safe_load(args) for kind, args in steps if kind == "CMD"][-1]
    assert entrypoint == ["slaclock"]
    assert_runs(command, "Dockerfile CMD")
    assert [args for kind, args in steps if kind == "STOPSIGNAL"] == ["SIGTERM"]


def test_dockerfile_sets_only_variables_slaclock_reads_and_keeps_the_database_on_its_volume():
    steps = dockerfile()
    env: dict[str, str] = {}
    for kind, args in steps:
        if kind == "ENV":
            env.update(pair.split("=", 1) for pair in shlex.split(args))
    unknown = set(env) - variables_slaclock_reads() - RUNTIME_VARIABLES
    assert unknown == set()
    volumes = [v for kind, args in steps if kind == "VOLUME" for v in yaml.safe_load(args)]
    assert str(PurePosixPath(env["SLACLOCK_DATABASE"]).parent) in volumes
    assert env["SLACLOCK_HOST"] == "0.0.0.0"  # reachable from outside the container
    ignored = (DEPLOY / "Dockerfile.dockerignore").read_text().split()
    assert ".env" in ignored and "*.db" in ignored, "secrets and databases stay out of the image"


# --- compose ---------------------------------------------------------------------------------------

def test_compose_runs_serve_and_worker_from_one_image_with_known_commands_and_variables():
    services = compose()["services"]
    assert set(services) == {"serve", "worker"}
    assert services["serve"]["image"] == services["worker"]["image"]
    assert services["serve"]["build"]["dockerfile"] == "deploy/Dockerfile"
    for name, service in services.items():
        assert service["command"][0] == name
        assert_runs(service["command"], f"compose service {name}")
        assert service["env_file"], f"{name} reads its settings from a file"
        assert set(service["environment"]) - variables_slaclock_reads() == set(), name
        assert service["stop_signal"] == "SIGTERM"


def test_compose_services_share_the_database_volume():
    spec = compose()
    mounts = {}
    for name, service in spec["services"].items():
        database_dir = str(PurePosixPath(service["environment"]["SLACLOCK_DATABASE"]).parent)
        (volume,) = [m.split(":")[0] for m in service["volumes"] if m.split(":")[1] == database_dir]
        assert volume in spec["volumes"], f"{name}: the database directory is a named volume"
        mounts[name] = (volume, database_dir)
    assert mounts["serve"] == mounts["worker"]


def test_compose_mounts_the_rules_directory_so_an_edit_reaches_the_running_processes():
    # A single-file bind mount keeps the inode it started with: a file an editor saves by renaming never shows.
    for name, service in compose()["services"].items():
        rules_dir = str(PurePosixPath(service["environment"]["SLACLOCK_RULES"]).parent)
        mounted = [m for m in service["volumes"] if m.split(":")[1] == rules_dir]
        assert mounted == ["./rules:/etc/slaclock:ro"], name
    assert "cp rules/rules.example.toml deploy/rules/rules.toml" in (DEPLOY / "compose.yaml").read_text()


def test_compose_healthcheck_asks_a_route_the_app_has(routes):
    serve = compose()["services"]["serve"]
    check = " ".join(serve["healthcheck"]["test"])
    (url,) = re.findall(r"https?://[^'\" ]+", check)
    host_port = url.split("/")[2]
    path = "/" + url.split("/", 3)[3]
    assert path == "/readyz" and path in routes
    assert host_port.endswith(":" + serve["environment"]["SLACLOCK_PORT"])
    published = [p.rsplit(":", 1)[1] for p in serve["ports"]]
    assert serve["environment"]["SLACLOCK_PORT"] in published


def test_worker_stop_grace_covers_its_stop():
    worker = compose()["services"]["worker"]
    grace = float(worker["stop_grace_period"].rstrip("s"))
    assert STOP_LIMIT_SECONDS <= grace <= 2 * STOP_LIMIT_SECONDS


# --- systemd --------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", UNITS)
def test_units_run_known_commands_as_a_dedicated_user(name):
    settings = unit(name)
    (exec_start,) = settings["ExecStart"]
    argv = shlex.split(exec_start)
    assert Path(argv[0]).name == "slaclock" and argv[0].startswith("/")  # systemd wants an absolute path
    assert argv[1] == name.removeprefix("slaclock-").removesuffix(".service")
    assert_runs(argv[1:], name)
    assert settings["User"] == ["slaclock"] and settings["Group"] == ["slaclock"]
    assert settings["Restart"] == ["on-failure"] and settings["KillSignal"] == ["SIGTERM"]
    assert settings["EnvironmentFile"] and settings["EnvironmentFile"][0].startswith("/")
    assert set(unit_environment(settings)) - variables_slaclock_reads() == set()


@pytest.mark.parametrize("name", UNITS)
def test_units_keep_the_database_in_their_state_directory(name):
    settings = unit(name)
    state = "/var/lib/" + settings["StateDirectory"][0]
    database = unit_environment(settings)["SLACLOCK_DATABASE"]
    assert str(PurePosixPath(database).parent) == state == settings["WorkingDirectory"][0]
    assert unit_environment(settings)["SLACLOCK_ENV_FILE"] == settings["EnvironmentFile"][0]


def test_worker_unit_waits_for_the_worker_stop_and_no_longer():
    (timeout,) = unit("slaclock-worker.service")["TimeoutStopSec"]
    seconds = float(timeout.rstrip("s"))
    assert STOP_GRACE_SECONDS < STOP_LIMIT_SECONDS <= seconds <= 2 * STOP_LIMIT_SECONDS


def test_both_units_share_the_database():
    databases = {unit_environment(unit(name))["SLACLOCK_DATABASE"] for name in UNITS}
    assert len(databases) == 1


# --- the package the image installs, and the README that uses the files ----------------------------

def test_the_installed_package_has_every_top_level_module():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    patterns = project["packages"]["find"]["include"]
    packages = {p.parent.name for p in ROOT.glob("*/__init__.py")} - {"tests"}
    missing = {p for p in packages if not any(re.fullmatch(pat.replace("*", ".*"), p) for pat in patterns)}
    assert missing == set(), "the image would lack these packages"
    modules = {p.stem for p in ROOT.glob("*.py")}
    assert modules <= set(project["py-modules"])


def test_the_installed_package_has_every_data_file_the_code_reads():
    """Templates, static files and the example rules: a non-editable install (the image) ships only what
    package-data names."""
    data = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]
    files = [p for folder in ("rules", "web") for p in (ROOT / folder).rglob("*")
             if p.is_file() and p.suffix not in (".py", ".pyc") and "__pycache__" not in p.parts]
    assert files, "no data files found"
    for path in files:
        package = ".".join(path.relative_to(ROOT).parent.parts)
        owners = [(name, globs) for name, globs in data.items() if package == name or package.startswith(name + ".")]
        shipped = any(path.relative_to(ROOT / name.replace(".", "/")).match(glob)
                      for name, globs in owners for glob in globs)
        assert shipped, f"{path.relative_to(ROOT)} is not package data"


def test_readme_production_section_uses_the_deploy_files():
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Production serving", 1)[1].split("\n## ", 1)[0]
    for name in ("deploy/Dockerfile", "deploy/compose.yaml", *UNITS, "/readyz", "SLACLOCK_LOG_FORMAT"):
        assert name in section, name
    for command in re.findall(r"^\s*slaclock ([a-z].*)$", section, re.M):
        assert_runs(shlex.split(command), f"README: slaclock {command}")
