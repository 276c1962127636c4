"""REST resources of /jobs: asynchronous (re)training jobs."""

from __future__ import annotations

from flask_restx import Namespace, Resource

from mlservice.rest import schemas
from mlservice.rest.context import caller, core
from mlservice.rest.schemas import ERROR

jobs = Namespace("jobs", path="/jobs", description="Asynchronous training jobs")
schemas.add_models(jobs)


@jobs.route("")
class Jobs(Resource):
    """Your jobs."""

    def get(self):
        """Your most recent training jobs, newest first."""
        return core().list_jobs(caller())


@jobs.route("/<string:job_id>")
@jobs.response(404, "Unknown job", ERROR)
class Job(Resource):
    """One job."""

    def get(self, job_id):
        """Status (queued/running/succeeded/failed/cancelled), phase, progress, timings, model and version."""
        return core().get_job(job_id, caller())


@jobs.route("/<string:job_id>/cancel")
@jobs.response(404, "Unknown job", ERROR)
class CancelJob(Resource):
    """Cancellation."""

    def post(self, job_id):
        """Cancel a queued job, or stop a running one before it registers anything."""
        return core().cancel_job(job_id, caller())
