# Secrets Manager entries the External Secrets operator copies into the namespace:
#   mercato/<env>/<service>           the service's secret settings (MERCATO_*)
#   mercato/<env>/<service>/database  username, password, host, port of its database
#   mercato/<env>/database-admin      the RDS master (used by the bootstrap Job)
#   mercato/<env>/minio               MinIO's root credentials (also the services' S3 keys),
#                                     only where MinIO runs: on AWS S3 IRSA roles replace them
# Values are generated once and then left alone (ignore_changes): rotate them with the
# runbook in docs/deploy.md. Client secrets are derived from auth's key, which Terraform
# cannot compute (HMAC): `mercato render client-secret <service>` gives them.

variable "environment" {
  description = "dev, stg or prod."
  type        = string
}

variable "kms_key_arn" {
  description = "Key encrypting every secret."
  type        = string
}

variable "databases" {
  description = "Service name to database name (module.catalog.databases)."
  type        = map(string)
}

variable "secret_env" {
  description = "Service name to its secret variables (module.catalog.secret_env)."
  type        = map(list(string))
}

variable "minio" {
  description = "MinIO runs in this environment (module.catalog.minio_environments)."
  type        = bool
}

variable "database_host" {
  description = "RDS address."
  type        = string
}

variable "database_port" {
  description = "RDS port."
  type        = number
}

locals {
  prefix = "mercato/${var.environment}"
  generated = toset(flatten([
    for service, names in var.secret_env : [
      for name in names : "${service}/${name}" if name != "MERCATO_CLIENT_SECRET"
    ]
  ]))
  # The services' S3 keys are MinIO's root credentials.
  s3_values = {
    MERCATO_S3_ACCESS_KEY = "mercato-${var.environment}"
    MERCATO_S3_SECRET_KEY = data.aws_secretsmanager_random_password.value["minio"].random_password
  }
}

data "aws_secretsmanager_random_password" "value" {
  for_each            = setunion(local.generated, toset(keys(var.databases)), toset(["minio", "database-admin"]))
  password_length     = 40
  exclude_punctuation = true
}

resource "aws_secretsmanager_secret" "service" {
  #checkov:skip=CKV2_AWS_57:rotation needs a coordinated restart; runbook in docs/deploy.md
  for_each                = var.secret_env
  name                    = "${local.prefix}/${each.key}"
  kms_key_id              = var.kms_key_arn
  recovery_window_in_days = 7
}

resource "aws_secretsmanager_secret_version" "service" {
  for_each  = var.secret_env
  secret_id = aws_secretsmanager_secret.service[each.key].id
  secret_string = jsonencode({
    for name in each.value : name => lookup(
      local.s3_values,
      name,
      name == "MERCATO_CLIENT_SECRET" ? "set-with-mercato-render-client-secret" : data.aws_secretsmanager_random_password.value["${each.key}/${name}"].random_password
    )
  })
  lifecycle {
    ignore_changes = [secret_string]
  }
}

resource "aws_secretsmanager_secret" "database" {
  #checkov:skip=CKV2_AWS_57:rotation needs a coordinated restart; runbook in docs/deploy.md
  for_each                = var.databases
  name                    = "${local.prefix}/${each.key}/database"
  kms_key_id              = var.kms_key_arn
  recovery_window_in_days = 7
}

resource "aws_secretsmanager_secret_version" "database" {
  for_each  = var.databases
  secret_id = aws_secretsmanager_secret.database[each.key].id
  secret_string = jsonencode({
    username = each.value
    password = data.aws_secretsmanager_random_password.value[each.key].random_password
    host     = var.database_host
    port     = tostring(var.database_port)
    dbname   = each.value
  })
  lifecycle {
    ignore_changes = [secret_string]
  }
}

resource "aws_secretsmanager_secret" "admin" {
  #checkov:skip=CKV2_AWS_57:rotation needs a coordinated restart; runbook in docs/deploy.md
  name                    = "${local.prefix}/database-admin"
  kms_key_id              = var.kms_key_arn
  recovery_window_in_days = 7
}

resource "aws_secretsmanager_secret_version" "admin" {
  secret_id = aws_secretsmanager_secret.admin.id
  secret_string = jsonencode({
    username = "mercato_admin"
    password = data.aws_secretsmanager_random_password.value["database-admin"].random_password
    host     = var.database_host
    port     = tostring(var.database_port)
  })
  lifecycle {
    ignore_changes = [secret_string]
  }
}

resource "aws_secretsmanager_secret" "minio" {
  #checkov:skip=CKV2_AWS_57:rotation needs a coordinated restart; runbook in docs/deploy.md
  count                   = var.minio ? 1 : 0
  name                    = "${local.prefix}/minio"
  kms_key_id              = var.kms_key_arn
  recovery_window_in_days = 7
}

resource "aws_secretsmanager_secret_version" "minio" {
  count     = var.minio ? 1 : 0
  secret_id = aws_secretsmanager_secret.minio[0].id
  secret_string = jsonencode({
    MINIO_ROOT_USER     = local.s3_values.MERCATO_S3_ACCESS_KEY
    MINIO_ROOT_PASSWORD = local.s3_values.MERCATO_S3_SECRET_KEY
  })
  lifecycle {
    ignore_changes = [secret_string]
  }
}

output "admin_password" {
  description = "The RDS master password, for the rds module (first apply only)."
  value       = data.aws_secretsmanager_random_password.value["database-admin"].random_password
  sensitive   = true
}

output "arn_prefix" {
  description = "ARN pattern of every secret of the environment."
  value       = "arn:aws:secretsmanager:*:*:secret:${local.prefix}/*"
}
