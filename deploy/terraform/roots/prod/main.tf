# The prod environment. State: s3://<state bucket>/mercato/prod.tfstate (roots/bootstrap).
#   terraform init -backend-config=bucket=<state bucket> && terraform apply

terraform {
  required_version = ">= 1.10"
  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "~> 5.100"
    }
  }
  backend "s3" {
    key          = "mercato/prod.tfstate"
    region       = "eu-central-1"
    encrypt      = true
    use_lockfile = true
  }
}

provider "aws" {
  region = "eu-central-1"
  default_tags {
    tags = {
      Project     = "mercato"
      Environment = "prod"
      ManagedBy   = "terraform"
    }
  }
}

variable "admin_cidrs" {
  description = "CIDRs allowed to reach the Kubernetes API endpoint; empty keeps it private."
  type        = list(string)
  default     = []
}

module "environment" {
  source                   = "../../modules/environment"
  environment              = "prod"
  cidr                     = "10.30.0.0/16"
  zones                    = ["eu-central-1a", "eu-central-1b", "eu-central-1c"]
  single_nat_gateway       = false
  node_min                 = 3
  node_max                 = 12
  node_desired             = 4
  db_instance_class        = "db.t3.medium"
  db_multi_az              = true
  admin_cidrs              = var.admin_cidrs
  db_backup_retention_days = 30
}

output "cluster_name" {
  description = "The EKS cluster."
  value       = module.environment.cluster_name
}

output "addon_role_arns" {
  description = "IRSA roles for the add-ons' service accounts."
  value       = module.environment.addon_role_arns
}

output "service_role_arns" {
  description = "IRSA roles of the services with buckets, where objects live on AWS S3."
  value       = module.environment.service_role_arns
}
