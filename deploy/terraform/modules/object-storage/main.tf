# AWS S3 for the environments that keep their objects there (docs/adr/0024): the
# catalog's buckets, and on each service's IRSA role (modules/iam creates it, trusted by
# that service's Kubernetes service account alone) a policy allowing exactly its
# buckets' objects. Pods get temporary keys from STS; no static S3 key exists anywhere.

variable "buckets" {
  description = "Service name to its buckets' real names (module.catalog.aws_s3_buckets[env])."
  type        = map(list(string))
}

variable "cors_origins" {
  description = "Origins browsers upload from and download to with presigned URLs."
  type        = list(string)
}

variable "roles" {
  description = "Service name to its IRSA role's name (module.iam.workload_roles)."
  type        = map(string)
}

variable "kms_key_arn" {
  description = "Key the objects are encrypted with."
  type        = string
}

locals {
  bucket_owner = merge([
    for service, names in var.buckets : { for bucket in names : bucket => service }
  ]...)
}

resource "aws_s3_bucket" "this" {
  #checkov:skip=CKV_AWS_18:access logs would need a log bucket; CloudTrail data events cover audits
  #checkov:skip=CKV_AWS_144:versioned in one region; replicating avatars and product images adds cost, not safety
  #checkov:skip=CKV2_AWS_62:nothing consumes object events; uploads are confirmed through the API
  for_each = local.bucket_owner
  bucket   = each.key
}

resource "aws_s3_bucket_ownership_controls" "this" {
  for_each = aws_s3_bucket.this
  bucket   = each.value.id
  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_public_access_block" "this" {
  for_each                = aws_s3_bucket.this
  bucket                  = each.value.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_versioning" "this" {
  for_each = aws_s3_bucket.this
  bucket   = each.value.id
  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "this" {
  for_each = aws_s3_bucket.this
  bucket   = each.value.id
  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm     = "aws:kms"
      kms_master_key_id = var.kms_key_arn
    }
    bucket_key_enabled = true
  }
}

resource "aws_s3_bucket_lifecycle_configuration" "this" {
  for_each = aws_s3_bucket.this
  bucket   = each.value.id
  rule {
    id     = "replaced-objects-and-abandoned-uploads"
    status = "Enabled"
    filter {}
    noncurrent_version_expiration {
      noncurrent_days = 30
    }
    abort_incomplete_multipart_upload {
      days_after_initiation = 1
    }
  }
}

# Browsers PUT and GET objects with presigned URLs, from the storefront's origin only.
resource "aws_s3_bucket_cors_configuration" "this" {
  for_each = aws_s3_bucket.this
  bucket   = each.value.id
  cors_rule {
    allowed_methods = ["GET", "PUT"]
    allowed_origins = var.cors_origins
    allowed_headers = ["Content-Type"]
    expose_headers  = ["ETag"]
    max_age_seconds = 3600
  }
}

data "aws_iam_policy_document" "bucket" {
  for_each = aws_s3_bucket.this
  statement {
    sid       = "TlsOnly"
    effect    = "Deny"
    actions   = ["s3:*"]
    resources = [each.value.arn, "${each.value.arn}/*"]
    principals {
      type        = "*"
      identifiers = ["*"]
    }
    condition {
      test     = "Bool"
      variable = "aws:SecureTransport"
      values   = ["false"]
    }
  }
}

resource "aws_s3_bucket_policy" "this" {
  for_each = aws_s3_bucket.this
  bucket   = each.value.id
  policy   = data.aws_iam_policy_document.bucket[each.key].json
}

# Exactly what the chassis's object store does: look at its buckets (HeadBucket needs
# ListBucket), read, write and delete their objects, with the key that encrypts them.
data "aws_iam_policy_document" "objects" {
  for_each = var.buckets
  statement {
    sid       = "Buckets"
    actions   = ["s3:ListBucket"]
    resources = [for bucket in each.value : aws_s3_bucket.this[bucket].arn]
  }
  statement {
    sid       = "Objects"
    actions   = ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"]
    resources = [for bucket in each.value : "${aws_s3_bucket.this[bucket].arn}/*"]
  }
  statement {
    sid       = "Encryption"
    actions   = ["kms:GenerateDataKey", "kms:Decrypt"]
    resources = [var.kms_key_arn]
  }
}

resource "aws_iam_role_policy" "objects" {
  for_each = var.buckets
  name     = "objects"
  role     = var.roles[each.key]
  policy   = data.aws_iam_policy_document.objects[each.key].json
}
