"""REST resources of /datasets: upload (multipart), list, show with a preview, delete unused versions."""

from __future__ import annotations

from flask_restx import Namespace, Resource, reqparse
from werkzeug.datastructures import FileStorage

from mlservice.rest import schemas
from mlservice.rest.context import caller, core
from mlservice.rest.schemas import ERROR

datasets = Namespace("datasets", path="/datasets", description="Versioned CSV datasets (DVC layout in S3)")
schemas.add_models(datasets)

upload = reqparse.RequestParser()
upload.add_argument("name", location="form", required=True, help="Dataset name (letters, digits, _ . -)")
upload.add_argument("file", location="files", type=FileStorage, required=True, help="CSV with a header row")


@datasets.route("")
class Datasets(Resource):
    """All datasets."""

    def get(self):
        """Uploaded datasets with their versions, and the DVC-tracked repository datasets."""
        return core().list_datasets(caller())

    @datasets.expect(upload)
    @datasets.response(201, "Stored as a new version")
    @datasets.response(200, "Identical bytes: the existing version")
    def post(self):
        """Upload a CSV as a new immutable version (its md5) of the named dataset."""
        args = upload.parse_args()
        record = core().upload_dataset(args["name"], args["file"].read(), caller())
        return record, 201 if record.get("created") else 200


@datasets.route("/<string:name>")
@datasets.response(404, "Unknown dataset", ERROR)
class DatasetVersions(Resource):
    """One dataset."""

    def get(self, name):
        """Every version of a dataset, newest first."""
        return {"name": name, "versions": core().dataset_versions(name, caller())}


@datasets.route("/<string:name>/<string:version>")
@datasets.response(404, "Unknown dataset or version", ERROR)
class DatasetVersion(Resource):
    """One dataset version."""

    def get(self, name, version):
        """A version ('latest' for the newest) with its schema and a preview of the first rows."""
        return core().get_dataset(name, None if version == "latest" else version, caller())

    @datasets.response(204, "Deleted")
    @datasets.response(409, "Models were trained on it", ERROR)
    def delete(self, name, version):
        """Delete a dataset version that no model was trained on."""
        core().delete_dataset(name, version, caller())
        return "", 204
