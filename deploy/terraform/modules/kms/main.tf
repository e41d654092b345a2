# One customer-managed key per environment: EKS secrets, RDS, Secrets Manager, logs.

variable "name" {
  description = "Environment name (dev, stg, prod)."
  type        = string
}

data "aws_caller_identity" "current" {}
data "aws_region" "current" {}

data "aws_iam_policy_document" "key" {
  # In a key policy "*" means this key; the account root entry is AWS's default policy.
  #checkov:skip=CKV_AWS_109:a key policy's "*" is the key itself; IAM policies grant the use
  #checkov:skip=CKV_AWS_111:a key policy's "*" is the key itself; IAM policies grant the use
  #checkov:skip=CKV_AWS_356:a key policy's "*" is the key itself; IAM policies grant the use
  statement {
    sid       = "AccountAdministers"
    actions   = ["kms:*"]
    resources = ["*"]
    principals {
      type        = "AWS"
      identifiers = ["arn:aws:iam::${data.aws_caller_identity.current.account_id}:root"]
    }
  }
  statement {
    sid       = "CloudWatchLogsEncrypt"
    actions   = ["kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"]
    resources = ["*"]
    principals {
      type        = "Service"
      identifiers = ["logs.${data.aws_region.current.name}.amazonaws.com"]
    }
  }
}

resource "aws_kms_key" "this" {
  description             = "mercato-${var.name}"
  enable_key_rotation     = true
  deletion_window_in_days = 30
  policy                  = data.aws_iam_policy_document.key.json
}

resource "aws_kms_alias" "this" {
  name          = "alias/mercato-${var.name}"
  target_key_id = aws_kms_key.this.key_id
}

output "arn" {
  description = "ARN of the environment's key."
  value       = aws_kms_key.this.arn
}
