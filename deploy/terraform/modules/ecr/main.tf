# One repository per catalog service: immutable tags, scan on push, KMS encryption, and a
# lifecycle that keeps the last releases and drops untagged layers.

variable "services" {
  description = "Catalog service names (module.catalog.services)."
  type        = list(string)
}

variable "kms_key_arn" {
  description = "Key encrypting the images."
  type        = string
}

variable "keep_releases" {
  description = "Tagged images kept per repository (enough to roll back in every environment)."
  type        = number
  default     = 100
}

resource "aws_ecr_repository" "service" {
  for_each             = toset(var.services)
  name                 = "mercato/${each.key}"
  image_tag_mutability = "IMMUTABLE"

  image_scanning_configuration {
    scan_on_push = true
  }

  encryption_configuration {
    encryption_type = "KMS"
    kms_key         = var.kms_key_arn
  }
}

resource "aws_ecr_lifecycle_policy" "service" {
  for_each   = aws_ecr_repository.service
  repository = each.value.name
  policy = jsonencode({
    rules = [
      {
        rulePriority = 1
        description  = "Drop untagged images after a week"
        selection = {
          tagStatus   = "untagged"
          countType   = "sinceImagePushed"
          countUnit   = "days"
          countNumber = 7
        }
        action = { type = "expire" }
      },
      {
        rulePriority = 2
        description  = "Keep the newest releases"
        selection = {
          tagStatus   = "any"
          countType   = "imageCountMoreThan"
          countNumber = var.keep_releases
        }
        action = { type = "expire" }
      },
    ]
  })
}

output "repository_arns" {
  description = "Repository ARNs (for the release role)."
  value       = [for r in aws_ecr_repository.service : r.arn]
}

output "registry" {
  description = "The registry host."
  value       = split("/", values(aws_ecr_repository.service)[0].repository_url)[0]
}
