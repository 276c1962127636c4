"""The Open Inference Protocol with clients nobody here wrote: Triton's tritonclient (HTTP with JSON tensors,
and gRPC with raw tensors) against the real REST and gRPC processes, with a token, on models trained
through the REST API; they must get what the project's own predict answers.

The clients run in a process of their own (``tests/oip_clients.py``): tritonclient's generated
``inference`` messages and the server's cannot be loaded into one Python process.
"""

from __future__ import annotations

import io
import json
import subprocess
import sys

import pytest
import requests

from tests.conftest import API_TOKEN, AUTH_HEADERS, ROOT
from tests.test_training_from_datasets import iris_csv

pytestmark = pytest.mark.integration

ROWS = [[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3], [5.9, 3.0, 4.2, 1.5]]
MIXED = {"sepal_length": [6.3, 5.0], "sepal_width": [3.3, 3.4], "petal_length": [6.0, 1.5],
         "petal_width": [2.5, 0.2], "site": ["north", "grün"]}  # fmt: skip


@pytest.fixture(scope="module")
def trained(rest_server):
    """A numeric model (inline Iris) and one with a text column (a dataset), trained over REST."""
    api, models = rest_server.url, []
    with requests.Session() as http:
        http.headers.update(AUTH_HEADERS)
        from sklearn.datasets import load_iris  # pylint: disable=import-outside-toplevel

        X, y = load_iris(return_X_y=True)
        numeric = http.post(f"{api}/models/train", json={"model_type": "logistic_regression", "X": X.tolist(),
                                                          "y": y.tolist()}, timeout=120)  # fmt: skip
        assert numeric.status_code == 201, numeric.text
        models.append(numeric.json()["model_id"])
        files = {"file": ("sites.csv", io.BytesIO(iris_csv()), "text/csv")}
        assert http.post(f"{api}/datasets", data={"name": "oip-sites"}, files=files, timeout=60).status_code in (
            200,
            201,
        )
        mixed = http.post(f"{api}/models/train", json={"model_type": "logistic_regression", "dataset": "oip-sites",
                                                        "target": "species"}, timeout=120)  # fmt: skip
        assert mixed.status_code == 201, mixed.text
        models.append(mixed.json()["model_id"])
        yield models
        for model_id in models:
            http.delete(f"{api}/models/{model_id}", timeout=60)


def own_predict(api: str, model_id: str, body: dict) -> dict:
    response = requests.post(f"{api}/models/{model_id}/predict", json=body, headers=AUTH_HEADERS, timeout=60)
    assert response.status_code == 200, response.text
    return response.json()


def test_tritonclient_gets_what_the_projects_own_predict_answers(rest_server, grpc_server_process, trained):
    numeric, mixed = trained
    spec = {
        "http": rest_server.url.removeprefix("http://"),
        "grpc": grpc_server_process.url,
        "token": API_TOKEN,
        "numeric": {"model": numeric, "rows": ROWS},
        "mixed": {"model": mixed, "columns": MIXED, "text": ["site"]},
    }
    run = subprocess.run([sys.executable, "tests/oip_clients.py", json.dumps(spec)], cwd=ROOT, capture_output=True,
                         text=True, timeout=180, check=False)  # fmt: skip
    assert run.returncode == 0, run.stderr[-3000:]
    got = json.loads(run.stdout.strip().splitlines()[-1])
    expected = own_predict(rest_server.url, numeric, {"X": ROWS})
    records = [dict(zip(MIXED, values, strict=True)) for values in zip(*MIXED.values(), strict=True)]
    expected_mixed = own_predict(rest_server.url, mixed, {"records": records})["predictions"]
    for side in ("http", "grpc"):
        answer = got[side]
        assert answer["live"] and answer["ready"] and answer["model_ready"], side
        assert answer["predict"] == expected["predictions"], side
        flat = [p for row in answer["predict_proba"] for p in row]
        assert flat == pytest.approx([p for row in expected["probabilities"] for p in row], abs=1e-12), side
        assert answer["mixed_predict"] == expected_mixed, side  # BYTES read as text over both doors
        assert answer["id"] == f"{side}-1"
        assert "404" in answer["unknown_model"] or "NOT_FOUND" in answer["unknown_model"], answer["unknown_model"]
    assert got["grpc"]["raw_outputs"] == 2  # raw in, raw out: what tritonclient reads
    assert "401" in got["http"]["without_token"] and "UNAUTHENTICATED" in got["grpc"]["wrong_token"]
    for metadata in (got["http"]["metadata"], got["grpc"]["metadata"]):
        assert metadata["name"] == numeric and metadata["platform"] == "sklearn"
        inputs = [{**tensor, "shape": [int(d) for d in tensor["shape"]]} for tensor in metadata["inputs"]]
        assert inputs == [{"name": "input-0", "datatype": "FP64", "shape": [-1, 4]}]  # (gRPC JSON: int64 as text)
        assert [o["name"] for o in metadata["outputs"]] == ["predict", "predict_proba"]
