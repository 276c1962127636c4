"""Placeholders and weak secrets are refused at start, by the REST app factory and the gRPC entry point;
the embedded default (nothing configured, secrets generated in the state directory) starts as before."""

from __future__ import annotations

from unittest import mock

import pytest

import grpc_server
from mlservice.rest.app import create_app
from mlservice.settings import Settings
from mlservice.weak_secrets import WeakSecret, refuse_weak_secrets, secret_problems

STRONG_KEY = "a-strong-session-signing-key-0123456789"
STRONG_TOKEN = "a-static-service-token-0123456789"
GITHUB = {"github_client_id": "id", "github_client_secret": "a-real-client-secret", "secret_key": STRONG_KEY}


def offline(tmp_path, **values) -> Settings:
    defaults = {"state_dir": tmp_path, "database_url": "sqlite://", "mlflow_tracking_uri": "http://127.0.0.1:9"}
    return Settings(**{**defaults, **values})


def test_the_forged_session_reproduction_secret_key_change_me_is_refused(tmp_path):
    # k8s/secret.yaml shipped SECRET_KEY=change-me: anyone could sign a session cookie as any user
    with pytest.raises(WeakSecret, match="SECRET_KEY is a placeholder"):
        create_app(offline(tmp_path, secret_key="change-me"), service=mock.Mock())


@pytest.mark.parametrize(
    ("values", "named"),
    [
        ({"secret_key": "changeme"}, "SECRET_KEY"),
        ({"secret_key": "secret"}, "SECRET_KEY"),
        ({"secret_key": "short-but-not-a-placeholder"}, "SECRET_KEY has 27 characters"),
        ({"s3_access_key_id": "minioadmin", "s3_secret_access_key": "minioadmin"}, "AWS_SECRET_ACCESS_KEY"),
        ({"s3_secret_access_key": "change-me-too"}, "AWS_SECRET_ACCESS_KEY"),
        ({"database_url": "postgresql+psycopg2://mlflow:change-me@db:5432/mlflow"}, "MLSERVICE_DATABASE_URL"),
        ({"api_tokens": "dashboard=short-token"}, "the token of 'dashboard'"),
        ({"api_tokens": f"ci={STRONG_TOKEN},bare"}, "the token of 'service'"),
        ({"grpc_auth_token": "grpc-secret"}, "GRPC_AUTH_TOKEN"),
    ],
)
def test_placeholders_and_short_secrets_are_named(tmp_path, values, named):
    problems = secret_problems(offline(tmp_path, **values))
    assert any(named in problem for problem in problems), problems
    with pytest.raises(WeakSecret) as refused:
        refuse_weak_secrets(offline(tmp_path, **values))
    for secret in ("short-but-not-a-placeholder", "short-token", "grpc-secret"):  # never repeated back
        assert secret not in str(refused.value)


def test_github_mode_with_empty_allow_lists_needs_allow_any_user(tmp_path):
    with pytest.raises(WeakSecret, match="GITHUB_ALLOW_ANY_USER"):
        refuse_weak_secrets(offline(tmp_path, **GITHUB))
    refuse_weak_secrets(offline(tmp_path, **GITHUB, github_allow_any_user=True))
    refuse_weak_secrets(offline(tmp_path, **GITHUB, github_allowed_users="octocat"))
    refuse_weak_secrets(offline(tmp_path, **GITHUB, github_allowed_orgs="acme"))


def test_strong_values_and_the_embedded_default_start(tmp_path):
    refuse_weak_secrets(offline(tmp_path, secret_key=STRONG_KEY, api_tokens=f"ci={STRONG_TOKEN}"))
    app = create_app(offline(tmp_path), service=mock.Mock())  # nothing configured: generated secrets
    assert len(app.secret_key) >= 32


def test_the_grpc_entry_point_refuses_before_serving(tmp_path):
    with mock.patch("grpc_server.build_server") as build:
        with pytest.raises(WeakSecret, match="SECRET_KEY"):
            grpc_server.serve(offline(tmp_path, secret_key="change-me"))
    build.assert_not_called()
