"""The dataset store (``datasets.py``) on both backends: the S3 stand-in (moto's server, as for MinIO) and a
local directory (embedded mode). Nothing is mocked: bytes really land in the bucket or on disk.
"""

from __future__ import annotations

import hashlib
import io
import threading
import uuid
from pathlib import Path

import pandas as pd
import pytest

from mlservice.core.datasets import DatasetNotFound, DatasetStore, dvc_file_text, lineage, object_path, repo_datasets
from mlservice.errors import Conflict, InvalidInput, NotFound, PayloadTooLarge, Unavailable
from mlservice.identity.principal import Principal
from tests.conftest import ROOT, S3_KEY

SMALL_CSV = b"x,y,flag,label\n1.5,2,true,a\n2.5,3,false,b\n"
OTHER_CSV = b"x,y,flag,label\n1.5,2,true,a\n2.5,3,false,b\n3.5,4,true,c\n"


def iris_bytes() -> bytes:
    """The repository's training CSV (regenerated in memory, so the test needs no DVC checkout)."""
    from data.make_train_csv import iris_csv_bytes  # pylint: disable=import-outside-toplevel

    return iris_csv_bytes()


def s3_options(endpoint: str) -> dict:
    return {"endpoint_url": endpoint, "key": S3_KEY, "secret": S3_KEY}


@pytest.fixture(scope="module")
def bucket(s3_client) -> str:
    """A bucket of this module's own."""
    name = f"datasets-{uuid.uuid4().hex[:10]}"
    s3_client.create_bucket(Bucket=name)
    return name


@pytest.fixture(params=[pytest.param("s3", marks=pytest.mark.integration), "local"])
def backend(request, tmp_path) -> dict:
    """How to build a store on one backend, each test under a fresh root, plus how to read raw objects."""
    if request.param == "local":
        root = tmp_path / "store"
        return {
            "make": lambda **limits: DatasetStore(str(root), **limits),
            "read_object": lambda key: (root / key).read_bytes(),
            "write_object": lambda key, data: (root / key).write_bytes(data),
            "uri_prefix": str(root),
        }
    endpoint = request.getfixturevalue("s3_endpoint")
    client = request.getfixturevalue("s3_client")
    bucket_name = request.getfixturevalue("bucket")
    prefix = uuid.uuid4().hex[:8]

    def read_object(key: str) -> bytes:
        try:
            return client.get_object(Bucket=bucket_name, Key=f"{prefix}/{key}")["Body"].read()
        except client.exceptions.NoSuchKey as exc:
            raise FileNotFoundError(key) from exc

    return {
        "make": lambda **limits: DatasetStore(f"s3://{bucket_name}/{prefix}", s3_options(endpoint), **limits),
        "read_object": read_object,
        "write_object": lambda key, data: client.put_object(Bucket=bucket_name, Key=f"{prefix}/{key}", Body=data),
        "uri_prefix": f"s3://{bucket_name}/{prefix}",
    }


@pytest.fixture
def store(backend) -> DatasetStore:
    return backend["make"]()


def test_upload_get_list_load_round_trip(store, backend):
    data = iris_bytes()
    md5 = hashlib.md5(data, usedforsecurity=False).hexdigest()

    record = store.upload("iris", data, owner=Principal.service("alice"))

    assert record["created"] is True
    assert (record["name"], record["version"], record["md5"], record["size"]) == ("iris", md5, md5, len(data))
    assert record["rows"] == 150 and record["owner"] == "service:alice" and record["owner_name"] == "alice"
    assert record["columns"] == [
        {"name": "sepal_length", "dtype": "float"},
        {"name": "sepal_width", "dtype": "float"},
        {"name": "petal_length", "dtype": "float"},
        {"name": "petal_width", "dtype": "float"},
        {"name": "target", "dtype": "int"},
    ]
    assert record["uri"] == f"{backend['uri_prefix']}/files/md5/{md5[:2]}/{md5[2:]}"

    shown = store.get("iris")
    assert shown["version"] == md5
    assert shown["schema"] == {
        "sepal_length": "float",
        "sepal_width": "float",
        "petal_length": "float",
        "petal_width": "float",
        "target": "int",
    }
    assert len(shown["preview"]) == 20
    assert shown["preview"][0] == {
        "sepal_length": 5.1,
        "sepal_width": 3.5,
        "petal_length": 1.4,
        "petal_width": 0.2,
        "target": 0,
    }

    listed = store.list()
    assert [(entry["name"], entry["latest"], len(entry["versions"])) for entry in listed] == [("iris", md5, 1)]

    frame = store.load_frame("iris")
    pd.testing.assert_frame_equal(frame, pd.read_csv(io.BytesIO(data)))
    assert store.resolve(f"iris@{md5[:8]}")["md5"] == md5
    assert lineage(store.resolve("iris")) == {
        "name": "iris",
        "digest": md5,
        "source": record["uri"],
        "rows": 150,
        "columns": ["sepal_length", "sepal_width", "petal_length", "petal_width", "target"],
    }


def test_same_bytes_twice_is_one_version(store):
    first = store.upload("small", SMALL_CSV)
    again = store.upload("small", SMALL_CSV, owner=Principal.service("bob"))

    assert again["created"] is False
    assert {key: again[key] for key in first if key != "created"} == {k: v for k, v in first.items() if k != "created"}
    assert [version["md5"] for version in store.versions("small")] == [first["md5"]]


def test_different_bytes_are_two_versions_newest_first(store):
    old = store.upload("small", SMALL_CSV)
    new = store.upload("small", OTHER_CSV)

    assert old["md5"] != new["md5"] and new["created"] is True
    assert [version["md5"] for version in store.versions("small")] == [new["md5"], old["md5"]]
    assert store.list()[0]["latest"] == new["md5"]
    assert store.get("small")["rows"] == 3
    assert store.get("small", old["md5"])["rows"] == 2
    assert store.load_frame("small", old["md5"])["label"].tolist() == ["a", "b"]
    assert store.get("small")["schema"] == {"x": "float", "y": "int", "flag": "bool", "label": "string"}


def test_stored_object_is_at_dvc_path_with_its_md5(store, backend):
    record = store.upload("small", SMALL_CSV)
    md5 = hashlib.md5(SMALL_CSV, usedforsecurity=False).hexdigest()

    assert record["path"] == object_path(md5) == f"files/md5/{md5[:2]}/{md5[2:]}"
    stored = backend["read_object"](record["path"])
    assert stored == SMALL_CSV and hashlib.md5(stored, usedforsecurity=False).hexdigest() == md5
    assert backend["read_object"](f"mlservice/datasets/small/{md5}.json").startswith(b"{")


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "the file is empty"),
        (b"  \n\n", "the file is empty"),
        (b"a,b\n", "no data rows"),
        (b'a,b\n"1,2\n', "malformed CSV"),
        (b"a,b\n1,2\n3,4,5\n", "malformed CSV: line 3 has 3 fields but the header has 2"),
        (b"a,b\n1,2,3\n", "more fields than the header"),
        (b"a,b,a\n1,2,3\n", "duplicate column names in the header: a"),
        (b"a,,c\n1,2,3\n", "empty column name"),
        (b"5.1,3.5,0\n4.9,3.0,1\n", "header naming the columns"),
        (b"a,b\n\xff\xfe,1\n", "not UTF-8"),
        (b"a," + b"b" * 5000 + b"\n1,2\n", r"header\[1\]: a column name of 5,000 characters; the limit is 200"),
    ],
)
def test_bad_csv_is_invalid_input_and_stores_nothing(tmp_path, data, message):
    store = DatasetStore(str(tmp_path / "store"))
    with pytest.raises(InvalidInput, match=message):
        store.upload("bad", data)
    assert store.list() == []


@pytest.mark.parametrize("name", ["", "../etc", "a/b", ".hidden", "x" * 64, "spaces here", "name@v1"])
def test_bad_name_is_invalid_input(tmp_path, name):
    with pytest.raises(InvalidInput, match="invalid dataset name"):
        DatasetStore(str(tmp_path)).upload(name, SMALL_CSV)


@pytest.mark.parametrize(
    ("limits", "message"),
    [
        ({"max_bytes": 20}, f"the dataset is {len(SMALL_CSV)} bytes; the limit is 20 bytes"),
        ({"max_rows": 1}, "more than 1 rows"),
        ({"max_columns": 3}, "4 columns; the limit is 3"),
    ],
)
def test_oversize_is_payload_too_large(tmp_path, limits, message):
    with pytest.raises(PayloadTooLarge, match=message):
        DatasetStore(str(tmp_path), **limits).upload("big", SMALL_CSV)


def test_unknown_dataset_or_version(store):
    store.upload("small", SMALL_CSV)
    unknown_md5 = "0" * 32

    with pytest.raises(DatasetNotFound, match="dataset 'nope' not found"):
        store.get("nope")
    with pytest.raises(DatasetNotFound, match="dataset 'nope' not found"):
        store.load_frame("nope", unknown_md5)
    with pytest.raises(DatasetNotFound, match=f"has no version {unknown_md5}"):
        store.get("small", unknown_md5)
    with pytest.raises(DatasetNotFound, match="has no version 000000"):
        store.resolve("small@000000")
    with pytest.raises(InvalidInput, match="invalid dataset version 'latest!'"):
        store.get("small", "latest!")
    assert issubclass(DatasetNotFound, NotFound)  # the front ends map every NotFound to 404 / NOT_FOUND


def test_delete_refused_while_models_use_the_version(store):
    record = store.upload("small", SMALL_CSV)
    asked = []

    def in_use(name: str, md5: str) -> list[str]:
        asked.append((name, md5))
        return ["iris-clf", "other-model"]

    with pytest.raises(Conflict, match="used by model.*iris-clf, other-model"):
        store.delete("small", record["md5"], in_use)
    assert asked == [("small", record["md5"])]
    assert store.resolve("small")["md5"] == record["md5"]
    assert store.load_frame("small").shape == (2, 4)


def test_delete_removes_record_and_unshared_data(store, backend):
    kept = store.upload("small", SMALL_CSV)
    gone = store.upload("small", OTHER_CSV)

    deleted = store.delete("small", gone["md5"], lambda name, md5: [])

    assert deleted["md5"] == gone["md5"]
    assert [version["md5"] for version in store.versions("small")] == [kept["md5"]]
    with pytest.raises(FileNotFoundError):
        backend["read_object"](gone["path"])
    store.delete("small", kept["md5"], lambda name, md5: [])
    assert store.list() == []
    with pytest.raises(DatasetNotFound):
        store.delete("small", kept["md5"], lambda name, md5: [])


def test_delete_keeps_data_another_dataset_shares(store, backend):
    first = store.upload("first", SMALL_CSV)
    store.upload("second", SMALL_CSV)

    store.delete("first", first["md5"], lambda name, md5: [])

    assert backend["read_object"](first["path"]) == SMALL_CSV
    assert store.load_frame("second").shape == (2, 4)


def test_corrupt_stored_data_is_detected(store, backend):
    record = store.upload("small", SMALL_CSV)
    backend["write_object"](record["path"], OTHER_CSV)

    with pytest.raises(Unavailable, match="corrupt"):
        store.load_frame("small")


def test_missing_bucket_is_created_on_first_upload(s3_endpoint, s3_client):
    bucket_name = f"fresh-{uuid.uuid4().hex[:10]}"
    store = DatasetStore(f"s3://{bucket_name}", s3_options(s3_endpoint))

    assert store.list() == []
    record = store.upload("small", SMALL_CSV)
    assert s3_client.get_object(Bucket=bucket_name, Key=record["path"])["Body"].read() == SMALL_CSV


def test_unreachable_store_is_unavailable():
    options = {**s3_options(f"http://127.0.0.1:{_closed_port()}"), "config_kwargs": {"connect_timeout": 1}}
    options["config_kwargs"]["retries"] = {"max_attempts": 1}
    with pytest.raises(Unavailable, match=r"dataset store \(s3://nowhere\) cannot be reached"):
        DatasetStore("s3://nowhere", options).list()


def _closed_port() -> int:
    from tests.conftest import free_port  # pylint: disable=import-outside-toplevel

    return free_port()


def test_concurrent_uploads_of_the_same_bytes_make_one_version(tmp_path):
    store = DatasetStore(str(tmp_path))
    results: list[dict] = []
    threads = [threading.Thread(target=lambda: results.append(store.upload("small", SMALL_CSV))) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(result["created"] for result in results) == [False] * 7 + [True]
    assert len(store.versions("small")) == 1


# --- DVC-tracked repository datasets --------------------------------------------------------------


def test_repo_datasets_lists_the_committed_dvc_file():
    entries = repo_datasets(ROOT)
    train = next(entry for entry in entries if entry["name"] == "train")
    data = iris_bytes()

    assert train == {
        "name": "train",
        "md5": hashlib.md5(data, usedforsecurity=False).hexdigest(),
        "size": len(data),
        "path": "data/train.csv",
        "dvc_file": "data/train.csv.dvc",
        "source": "dvc",
    }


def _repo_without_data(tmp_path: Path) -> Path:
    """A checkout that has data/train.csv.dvc but not the CSV (as after git clone, before dvc pull)."""
    repo = tmp_path / "repo"
    (repo / "data").mkdir(parents=True)
    (repo / "data" / "train.csv.dvc").write_bytes((ROOT / "data" / "train.csv.dvc").read_bytes())
    (repo / "data" / "notes.dvc").write_text("outs:\n- path: notes\n  md5: abc.dir\n")  # a directory: skipped
    return repo


def test_load_repo_dataset_from_the_store_when_not_in_the_workspace(store, tmp_path):
    repo = _repo_without_data(tmp_path)
    assert [entry["name"] for entry in repo_datasets(repo)] == ["train"]

    with pytest.raises(Unavailable, match="missing from the store"):
        store.load_repo_dataset(repo, "train")

    store.upload("iris", iris_bytes())  # same bytes as `dvc push` would have put there
    frame, record = store.load_repo_dataset(repo, "train")

    assert frame.shape == (150, 5)
    assert record["uri"] == store.resolve("iris")["uri"] and record["rows"] == 150
    assert lineage(record)["digest"] == record["md5"] == store.resolve("iris")["md5"]
    with pytest.raises(DatasetNotFound, match="no DVC-tracked dataset 'nope'"):
        store.load_repo_dataset(repo, "nope")


def test_load_repo_dataset_prefers_a_matching_workspace_file(tmp_path):
    repo = _repo_without_data(tmp_path)
    (repo / "data" / "train.csv").write_bytes(iris_bytes())

    frame, record = DatasetStore(str(tmp_path / "empty-store")).load_repo_dataset(repo, "train")

    assert frame.shape == (150, 5) and record["uri"] == str((repo / "data" / "train.csv").resolve())


def test_delete_never_removes_data_the_repository_tracks(tmp_path):
    repo = _repo_without_data(tmp_path)
    store = DatasetStore(str(tmp_path / "store"), repo_root=repo)
    record = store.upload("iris", iris_bytes())

    store.delete("iris", record["md5"], lambda name, md5: [])

    assert (tmp_path / "store" / record["path"]).read_bytes() == iris_bytes()


def test_dvc_file_text_points_dvc_at_the_version(tmp_path):
    record = DatasetStore(str(tmp_path)).upload("small", SMALL_CSV)
    md5 = hashlib.md5(SMALL_CSV, usedforsecurity=False).hexdigest()
    assert dvc_file_text(record) == f"outs:\n- md5: {md5}\n  size: {len(SMALL_CSV)}\n  hash: md5\n  path: small.csv\n"
