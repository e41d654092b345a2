# Shared by all environments: one ECR repository per catalog service (images are built
# once and promoted unchanged) and the GitHub Actions OIDC role that pushes them.
#   terraform init -backend-config=bucket=<state bucket> && terraform apply -var github_repository=<owner/name>

terraform {
  required_version = ">= 1.10"
  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "~> 5.100"
    }
  }
  backend "s3" {
    key          = "mercato/shared.tfstate"
    region       = "eu-central-1"
    encrypt      = true
    use_lockfile = true
  }
}

provider "aws" {
  region = "eu-central-1"
  default_tags {
    tags = {
      Project   = "mercato"
      ManagedBy = "terraform"
    }
  }
}

variable "github_repository" {
  description = "owner/name of the repository whose main branch may push images."
  type        = string
}

module "catalog" {
  source = "../../modules/catalog"
}

module "kms" {
  source = "../../modules/kms"
  name   = "shared"
}

module "ecr" {
  source      = "../../modules/ecr"
  services    = module.catalog.services
  kms_key_arn = module.kms.arn
}

resource "aws_iam_openid_connect_provider" "github" {
  url            = "https://token.actions.githubusercontent.com"
  client_id_list = ["sts.amazonaws.com"]
}

data "aws_iam_policy_document" "release_assume" {
  statement {
    actions = ["sts:AssumeRoleWithWebIdentity"]
    principals {
      type        = "Federated"
      identifiers = [aws_iam_openid_connect_provider.github.arn]
    }
    condition {
      test     = "StringEquals"
      variable = "token.actions.githubusercontent.com:aud"
      values   = ["sts.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "token.actions.githubusercontent.com:sub"
      values   = ["repo:${var.github_repository}:ref:refs/heads/main"]
    }
  }
}

data "aws_iam_policy_document" "release_push" {
  statement {
    sid       = "Login"
    actions   = ["ecr:GetAuthorizationToken"]
    resources = ["*"]
  }
  statement {
    sid = "Push"
    actions = [
      "ecr:BatchCheckLayerAvailability", "ecr:BatchGetImage", "ecr:CompleteLayerUpload",
      "ecr:DescribeImages", "ecr:GetDownloadUrlForLayer", "ecr:InitiateLayerUpload",
      "ecr:PutImage", "ecr:UploadLayerPart",
    ]
    resources = module.ecr.repository_arns
  }
  statement {
    sid       = "Encrypt"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
    resources = [module.kms.arn]
  }
}

resource "aws_iam_role" "release" {
  name               = "mercato-release"
  assume_role_policy = data.aws_iam_policy_document.release_assume.json
}

resource "aws_iam_role_policy" "release" {
  role   = aws_iam_role.release.id
  policy = data.aws_iam_policy_document.release_push.json
}

output "registry" {
  description = "ECR registry host: the repository variable ECR_REGISTRY."
  value       = module.ecr.registry
}

output "release_role_arn" {
  description = "The repository variable AWS_RELEASE_ROLE_ARN."
  value       = aws_iam_role.release.arn
}
