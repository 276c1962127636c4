"""DVC for real: ``init_dvc.sh`` against the S3 stand-in (moto's server, as for MinIO), ``dvc pull`` in a fresh
clone, and DVC fetching a dataset uploaded through ``DatasetStore`` by its md5 (same layout as ``dvc push``).

The committed DVC files are copied into a throwaway git repository, so the real checkout is never touched.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import uuid
from pathlib import Path

import pytest
import yaml

from mlservice.core.datasets import DatasetStore, dvc_file_text, repo_datasets
from tests.conftest import ROOT, S3_KEY, base_env

COMMITTED_FILES = [
    ".gitignore",
    ".dvcignore",
    ".dvc/config",
    ".dvc/.gitignore",
    "data/train.csv.dvc",
    "data/make_train_csv.py",
    "init_dvc.sh",
]
GIT = ["git", "-c", "user.name=tests", "-c", "user.email=tests@example.com"]


def run(args: list[str], cwd: Path, env: dict[str, str]) -> str:
    """Run a command, fail the test with its output if it fails; return stdout and stderr."""
    result = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=120, check=False)
    output = result.stdout + result.stderr
    assert result.returncode == 0, f"{' '.join(args)} failed ({result.returncode}):\n{output}"
    return output


def iris_bytes() -> bytes:
    from data.make_train_csv import iris_csv_bytes  # pylint: disable=import-outside-toplevel

    return iris_csv_bytes()


@pytest.fixture(scope="module")
def remote(s3_endpoint) -> dict:
    """The environment init_dvc.sh gets in a deployment: a bucket of this module's own (not created yet)."""
    bucket = f"dvc-{uuid.uuid4().hex[:10]}"
    env = base_env(
        DVC_REMOTE_URL=f"s3://{bucket}",
        DVC_S3_ENDPOINT_URL=s3_endpoint,
        AWS_ACCESS_KEY_ID=S3_KEY,
        AWS_SECRET_ACCESS_KEY=S3_KEY,
        AWS_DEFAULT_REGION="us-east-1",
        DVC_NO_ANALYTICS="1",
    )
    return {"bucket": bucket, "endpoint": s3_endpoint, "env": env}


@pytest.fixture(scope="module")
def repo(tmp_path_factory, remote) -> dict:
    """A git repository holding the committed DVC files, after a first run of init_dvc.sh."""
    path = tmp_path_factory.mktemp("dvc-repo")
    for name in COMMITTED_FILES:
        (path / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, path / name)
    run(["git", "init", "-q"], path, remote["env"])
    run(["git", "add", "-A"], path, remote["env"])
    run([*GIT, "commit", "-q", "-m", "committed files"], path, remote["env"])
    output = run(["bash", "init_dvc.sh"], path, remote["env"])
    return {"path": path, "first_output": output}


@pytest.fixture(scope="module")
def clone(tmp_path_factory, repo) -> Path:
    """A second checkout (git clone: no data, no cache) with the deployment's git-ignored config.local."""
    path = tmp_path_factory.mktemp("dvc-clone") / "clone"
    run(["git", "clone", "-q", str(repo["path"]), str(path)], repo["path"], base_env())
    shutil.copy2(repo["path"] / ".dvc" / "config.local", path / ".dvc" / "config.local")
    assert not (path / "data" / "train.csv").exists()
    return path


def test_init_creates_the_bucket_and_pushes_train_csv(repo, remote, s3_client):
    data = iris_bytes()
    md5 = hashlib.md5(data, usedforsecurity=False).hexdigest()

    assert f"created bucket {remote['bucket']}" in repo["first_output"]
    assert "1 file pushed" in repo["first_output"]
    stored = s3_client.get_object(Bucket=remote["bucket"], Key=f"files/md5/{md5[:2]}/{md5[2:]}")["Body"].read()
    assert stored == data


def test_dvc_pull_in_a_fresh_clone_restores_identical_data(clone, remote):
    run(["dvc", "pull", "-q"], clone, remote["env"])

    assert (clone / "data" / "train.csv").read_bytes() == iris_bytes()


def test_init_twice_is_idempotent_and_leaves_git_clean(repo, remote):
    output = run(["bash", "init_dvc.sh"], repo["path"], remote["env"])

    assert f"bucket {remote['bucket']} exists" in output and "Everything is up to date" in output
    assert run(["git", "status", "--porcelain"], repo["path"], remote["env"]) == ""
    for name in (".dvc/config", "data/train.csv.dvc"):
        assert (repo["path"] / name).read_bytes() == (ROOT / name).read_bytes(), name


def test_credentials_land_only_in_the_git_ignored_local_config(repo, remote):
    local = (repo["path"] / ".dvc" / "config.local").read_text()

    assert f"url = s3://{remote['bucket']}" in local and f"endpointurl = {remote['endpoint']}" in local
    assert f"access_key_id = {S3_KEY}" in local and f"secret_access_key = {S3_KEY}" in local
    run(["git", "check-ignore", "-q", ".dvc/config.local"], repo["path"], remote["env"])
    for name in (".dvc/config", "data/train.csv.dvc"):
        assert S3_KEY not in (repo["path"] / name).read_text()
    assert "access_key_id" not in (ROOT / ".dvc" / "config").read_text()


def test_dvc_pulls_a_dataset_uploaded_through_the_store(clone, remote):
    data = b"a,b,label\n1,2,x\n3,4,y\n" + uuid.uuid4().hex.encode() + b",5,z\n"
    store = DatasetStore(
        f"s3://{remote['bucket']}",
        {"endpoint_url": remote["endpoint"], "key": S3_KEY, "secret": S3_KEY},
    )
    record = store.upload("uploaded", data)
    (clone / "uploaded.csv.dvc").write_text(dvc_file_text(record))

    run(["dvc", "pull", "-q", "uploaded.csv.dvc"], clone, remote["env"])

    assert (clone / "uploaded.csv").read_bytes() == data


def test_committed_dvc_file_matches_the_generator(repo, remote):
    data = iris_bytes()  # what data/make_train_csv.py writes
    out = yaml.safe_load((ROOT / "data" / "train.csv.dvc").read_text())["outs"][0]

    assert out == {
        "md5": hashlib.md5(data, usedforsecurity=False).hexdigest(),
        "size": len(data),
        "hash": "md5",
        "path": "train.csv",
    }
    assert [entry["md5"] for entry in repo_datasets(ROOT) if entry["name"] == "train"] == [out["md5"]]
    # init_dvc.sh regenerated data/train.csv in the repository copy with the script: DVC sees no change
    assert (repo["path"] / "data" / "train.csv").read_bytes() == data
    assert "Data and pipelines are up to date" in run(["dvc", "status"], repo["path"], remote["env"])
