"""Secrets and external databases: the ``external-secrets`` and ``external-db`` components,
and dev's generated, recognisably insecure values."""

from __future__ import annotations

from typing import Any

from mercato.deploy import model
from mercato.deploy.k8s.objects import (
    ENV_PLACEHOLDER,
    JOB_RESOURCES,
    NAME_LABEL,
    PRIVATE_NETWORK,
    ROOT,
    SECRET_STORE,
    TMP_MOUNT,
    TMP_VOLUME,
    Files,
    Obj,
    component,
    db_secret,
    engine_container,
    labels,
    meta,
    network_policy,
    pod_security,
    service_account,
    smtp_secret,
    tcp,
)
from mercato.platform.security import derive_client_secret
from mercato.platform.settings import DEV_SECRET_PREFIX


def external_secret(name: str, key: str, **target: Any) -> Obj:
    """An ExternalSecret copying one AWS Secrets Manager entry (JSON) into a Secret."""
    return {
        "apiVersion": "external-secrets.io/v1",
        "kind": "ExternalSecret",
        "metadata": {**meta(name, "secret"), "annotations": {"argocd.argoproj.io/sync-wave": "0"}},
        "spec": {
            "refreshInterval": "1h",
            "secretStoreRef": {"kind": "SecretStore", "name": SECRET_STORE},
            "target": {"name": name, "creationPolicy": "Owner", **target},
            "dataFrom": [{"extract": {"key": f"mercato/{ENV_PLACEHOLDER}/{key}"}}],
        },
    }


def external_db() -> Files:
    """Per-service database secrets from Secrets Manager (RDS) and a bootstrap Job.

    RDS forces TLS (rds.force_ssl), so the URL asks asyncpg for it (``ssl=require``).
    """
    objects: list[Obj] = []
    services = model.with_engine("postgres")
    for service in services:
        database = service.spec.database
        objects.append(
            external_secret(
                db_secret(service),
                f"{service.name}/database",
                template={
                    "engineVersion": "v2",
                    "data": {
                        "username": "{{ .username }}",
                        "password": "{{ .password }}",
                        "uri": "postgresql://{{ .username }}:{{ .password | urlquery }}"
                        "@{{ .host }}:{{ .port }}/" + f"{database}?ssl=require",
                    },
                },
            )
        )
        objects.append(
            network_policy(
                f"{service.name}-database",
                {NAME_LABEL: service.name},
                egress=[{"to": [{"ipBlock": {"cidr": PRIVATE_NETWORK}}], "ports": tcp(5432)}],
            )
        )
        objects.append(
            network_policy(
                f"{service.name}-migrate-database",
                {NAME_LABEL: f"{service.name}-migrate"},
                egress=[{"to": [{"ipBlock": {"cidr": PRIVATE_NETWORK}}], "ports": tcp(5432)}],
            )
        )
    objects.append(external_secret("database-admin", "database-admin"))
    # Creates each service's role and database on the shared RDS instance, idempotently.
    # Names come from the catalog; the passwords stay psql variables quoted by format(%L).
    sql = ["\\set ON_ERROR_STOP on"]
    env = [
        {
            "name": "PGPASSWORD",
            "valueFrom": {"secretKeyRef": {"name": "database-admin", "key": "password"}},
        }
    ]
    for key in ("host", "username"):
        env.append(
            {
                "name": f"ADMIN_{key.upper()}",
                "valueFrom": {"secretKeyRef": {"name": "database-admin", "key": key}},
            }
        )
    for service in services:
        role = service.db_role
        variable = f"{service.name}_password"
        env.append(
            {
                "name": variable.upper(),
                "valueFrom": {"secretKeyRef": {"name": db_secret(service), "key": "password"}},
            }
        )
        sql += [
            f"\\getenv {variable} {variable.upper()}",
            f"SELECT format('CREATE ROLE %I LOGIN', '{role}') WHERE NOT EXISTS "  # noqa: S608
            f"(SELECT FROM pg_roles WHERE rolname = '{role}')\\gexec",
            f"SELECT format('ALTER ROLE %I PASSWORD %L', '{role}', :'{variable}')\\gexec",
            f"SELECT format('GRANT %I TO CURRENT_USER', '{role}')\\gexec",
            f"SELECT format('CREATE DATABASE %I OWNER %I', '{service.spec.database}', '{role}') "  # noqa: S608
            f"WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = '{service.spec.database}')"
            "\\gexec",
        ]
    uid = model.RUN_AS_USER
    job = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": meta(
            "database-bootstrap",
            "database",
            annotations={
                "argocd.argoproj.io/hook": "Sync",
                "argocd.argoproj.io/hook-delete-policy": "BeforeHookCreation",
                "argocd.argoproj.io/sync-wave": "0",
            },
        ),
        "spec": {
            "backoffLimit": 10,
            "ttlSecondsAfterFinished": 86400,
            "template": {
                "metadata": {"labels": labels("database-bootstrap", "database")},
                "spec": {
                    "serviceAccountName": "database-bootstrap",
                    "automountServiceAccountToken": False,
                    "restartPolicy": "OnFailure",
                    "securityContext": pod_security(uid),
                    "containers": [
                        {
                            **engine_container(
                                "psql",
                                model.PSQL_IMAGE,
                                uid,
                                command=[
                                    "psql",
                                    "--no-psqlrc",
                                    "--host=$(ADMIN_HOST)",
                                    "--username=$(ADMIN_USERNAME)",
                                    "--dbname=postgres",
                                    "--file=/etc/bootstrap/bootstrap.sql",
                                ],
                                env=[*env, {"name": "PGSSLMODE", "value": "require"}],
                                volumeMounts=[
                                    {"name": "script", "mountPath": "/etc/bootstrap"},
                                    TMP_MOUNT,
                                ],
                            ),
                            "resources": JOB_RESOURCES.as_dict(),
                        }
                    ],
                    "volumes": [
                        {"name": "script", "configMap": {"name": "database-bootstrap"}},
                        TMP_VOLUME,
                    ],
                },
            },
        },
    }
    objects += [
        service_account("database-bootstrap", "database"),
        job,
        network_policy(
            "database-bootstrap",
            {NAME_LABEL: "database-bootstrap"},
            egress=[{"to": [{"ipBlock": {"cidr": PRIVATE_NETWORK}}], "ports": tcp(5432)}],
        ),
    ]
    path = f"{ROOT}/components/external-db"
    return {
        f"{path}/external-db.yaml": objects,
        f"{path}/bootstrap.sql": "\n".join(sql) + "\n",
        f"{path}/kustomization.yaml": component(
            resources=["external-db.yaml"],
            configMapGenerator=[{"name": "database-bootstrap", "files": ["bootstrap.sql"]}],
        ),
    }


def external_secrets() -> Files:
    """Application and MinIO secrets from AWS Secrets Manager (stg, prod)."""
    objects = [
        external_secret(f"{s.name}-secrets", s.name) for s in model.services() if s.secret_env
    ]
    objects += [
        external_secret(smtp_secret(s), smtp_secret(s)) for s in model.services() if s.spec.smtp
    ]
    objects.append(external_secret("minio-credentials", "minio"))
    path = f"{ROOT}/components/external-secrets"
    return {
        f"{path}/external-secrets.yaml": objects,
        f"{path}/kustomization.yaml": component(resources=["external-secrets.yaml"]),
    }


def dev_secret_value(name: str) -> str:
    """A development-only secret: the chassis's recognisable dev prefix, never valid in stg/prod."""
    return DEV_SECRET_PREFIX + name


def dev_secrets() -> list[Obj]:
    """secretGenerator entries for dev: recognisable development-only values."""
    s3_user = "mercato-dev"
    s3_password = dev_secret_value("minio-password")
    auth_key = dev_secret_value("auth-secret-key")
    generated = [
        {
            "name": "minio-credentials",
            "literals": [f"MINIO_ROOT_USER={s3_user}", f"MINIO_ROOT_PASSWORD={s3_password}"],
        }
    ]
    for service in model.services():
        if service.spec.smtp:
            generated.append(
                {
                    "name": smtp_secret(service),
                    "literals": [
                        "MERCATO_SMTP_USERNAME=mercato-dev",
                        f"MERCATO_SMTP_PASSWORD={dev_secret_value('smtp-password')}",
                    ],
                }
            )
        if not service.secret_env:
            continue
        values = {
            "MERCATO_SECRET_KEY": auth_key,
            "MERCATO_S3_ACCESS_KEY": s3_user,
            "MERCATO_S3_SECRET_KEY": s3_password,
            "MERCATO_CLIENT_SECRET": derive_client_secret(auth_key, service.name),
        }
        generated.append(
            {
                "name": f"{service.name}-secrets",
                "literals": [
                    f"{key}={values.get(key, dev_secret_value(key.lower()))}"
                    for key in service.secret_env
                ],
            }
        )
    return generated
