"""Where the S3 keys come from: settings, then a web identity (IRSA), then AWS's variables.

The exchange and the refresh run on SeaweedFS's real STS in
tests/integration/platform/test_s3_web_identity.py; these are the choices made before it.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path

import pytest

from mercato.platform.errors import ServiceUnavailable
from mercato.platform.s3 import (
    Credentials,
    StaticCredentials,
    WebIdentityCredentials,
    credential_chain,
    parse_assumed_role,
)
from mercato.platform.settings import InsecureSettingsError
from mercato.services.user.settings import Settings as UserSettings

IRSA = {
    "AWS_ROLE_ARN": "arn:aws:iam::123456789012:role/mercato-prod-user",
    "AWS_WEB_IDENTITY_TOKEN_FILE": "/var/run/secrets/eks.amazonaws.com/serviceaccount/token",
}
# The sample answer of AWS's AssumeRoleWithWebIdentity API reference.
ANSWER = b"""<AssumeRoleWithWebIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">
  <AssumeRoleWithWebIdentityResult>
    <SubjectFromWebIdentityToken>amzn1.account.AF6RHO7KZU5XRVQJGXK6HB56KR2A</SubjectFromWebIdentityToken>
    <Credentials>
      <SessionToken>AQoDYXdzEE0a8ANXXXXXXXXNO1ewxE5TijQyp+IEXAMPLE</SessionToken>
      <SecretAccessKey>wJalrXUtnFEMI/K7MDENG/bPxRfiCYzEXAMPLEKEY</SecretAccessKey>
      <Expiration>2014-10-24T23:00:23Z</Expiration>
      <AccessKeyId>ASgeIAIOSFODNN7EXAMPLE</AccessKeyId>
    </Credentials>
  </AssumeRoleWithWebIdentityResult>
</AssumeRoleWithWebIdentityResponse>"""

AWS_KEYS = {"AWS_ACCESS_KEY_ID": "AKIAENVIRONMENT0001", "AWS_SECRET_ACCESS_KEY": "env-secret"}


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith(("MERCATO_", "AWS_")):
            monkeypatch.delenv(name)


def chain(environ, *, access_key=None, secret_key=None):
    return credential_chain(
        access_key=access_key,
        secret_key=secret_key,
        region="eu-central-1",
        environ=environ,
        session_name="mercato-user",
    )


def test_keys_in_settings_come_first():
    source = chain({**IRSA, **AWS_KEYS}, access_key="settings-key", secret_key="settings-secret")
    assert isinstance(source, StaticCredentials)
    assert source.current() == Credentials("settings-key", "settings-secret", "eu-central-1")


def test_a_web_identity_comes_before_the_aws_key_variables():
    source = chain({**IRSA, **AWS_KEYS})
    assert isinstance(source, WebIdentityCredentials)
    assert source.role_arn == IRSA["AWS_ROLE_ARN"]
    assert source.token_file == Path(IRSA["AWS_WEB_IDENTITY_TOKEN_FILE"])
    assert source.sts_endpoint == "https://sts.eu-central-1.amazonaws.com"
    assert source.session_name == "mercato-user"


def test_the_sts_endpoint_and_session_name_follow_the_standard_variables():
    source = chain(
        {
            **IRSA,
            "AWS_ENDPOINT_URL_STS": "http://minio.mercato:9000/",
            "AWS_ROLE_SESSION_NAME": "user-7f9c",
        }
    )
    assert isinstance(source, WebIdentityCredentials)
    assert source.sts_endpoint == "http://minio.mercato:9000"
    assert source.session_name == "user-7f9c"


def test_the_aws_key_variables_come_last_with_their_session_token():
    source = chain({**AWS_KEYS, "AWS_SESSION_TOKEN": "token-from-the-environment"})
    assert isinstance(source, StaticCredentials)
    assert source.current() == Credentials(
        "AKIAENVIRONMENT0001",
        "env-secret",
        "eu-central-1",
        session_token="token-from-the-environment",
    )


@pytest.mark.parametrize(
    "environ",
    [{}, {"AWS_ROLE_ARN": IRSA["AWS_ROLE_ARN"]}, {"AWS_ACCESS_KEY_ID": "AKIAONLYTHEID"}],
)
def test_half_a_configuration_is_no_source(environ):
    assert chain(environ, access_key="only-the-key") is None


def test_an_assumed_role_answer_gives_the_temporary_keys():
    assert parse_assumed_role(ANSWER, region="us-east-2") == Credentials(
        "ASgeIAIOSFODNN7EXAMPLE",
        "wJalrXUtnFEMI/K7MDENG/bPxRfiCYzEXAMPLEKEY",
        "us-east-2",
        session_token="AQoDYXdzEE0a8ANXXXXXXXXNO1ewxE5TijQyp+IEXAMPLE",
        expires_at=datetime(2014, 10, 24, 23, 0, 23, tzinfo=UTC),
    )


@pytest.mark.parametrize(
    "answer",
    [
        b"not xml",
        b"<AssumeRoleWithWebIdentityResponse/>",
        ANSWER.replace(b"Expiration", b"Expires"),
    ],
)
def test_an_answer_without_usable_keys_makes_the_store_unavailable(answer):
    with pytest.raises(ServiceUnavailable):
        parse_assumed_role(answer, region="us-east-2")


def test_prod_with_a_web_identity_needs_no_static_s3_key(monkeypatch):
    monkeypatch.setenv("MERCATO_ENV", "prod")
    for name, value in IRSA.items():
        monkeypatch.setenv(name, value)
    settings = UserSettings()
    assert settings.s3_web_identity
    assert "s3_access_key" not in settings.required_secrets()
    assert "s3_secret_key" not in settings.required_secrets()


def test_prod_with_only_a_role_still_needs_the_static_s3_keys(monkeypatch):
    monkeypatch.setenv("MERCATO_ENV", "prod")
    monkeypatch.setenv("AWS_ROLE_ARN", IRSA["AWS_ROLE_ARN"])
    with pytest.raises(InsecureSettingsError, match="MERCATO_S3_ACCESS_KEY is not set"):
        UserSettings()
