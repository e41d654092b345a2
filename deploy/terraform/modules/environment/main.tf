# Everything one environment needs, wired together; the roots under roots/<env> only
# choose sizes. Service lists come from the catalog module (generated from the catalog).

variable "environment" {
  description = "dev, stg or prod."
  type        = string
}

variable "cidr" {
  description = "VPC CIDR (a /16 inside 10.0.0.0/8)."
  type        = string
}

variable "zones" {
  description = "Three availability zones."
  type        = list(string)
}

variable "single_nat_gateway" {
  description = "One NAT gateway instead of one per zone."
  type        = bool
}

variable "node_min" {
  description = "Minimum t3.medium nodes."
  type        = number
}

variable "node_max" {
  description = "Maximum t3.medium nodes."
  type        = number
}

variable "node_desired" {
  description = "Nodes at creation."
  type        = number
}

variable "db_instance_class" {
  description = "RDS instance class."
  type        = string
}

variable "db_multi_az" {
  description = "RDS standby in a second zone."
  type        = bool
}

variable "db_backup_retention_days" {
  description = "RDS backup retention."
  type        = number
}

variable "admin_cidrs" {
  description = "CIDRs allowed to reach the Kubernetes API; empty keeps it private."
  type        = list(string)
  default     = []
}

locals {
  name = "mercato-${var.environment}"
}

module "catalog" {
  source = "../catalog"
}

module "kms" {
  source = "../kms"
  name   = var.environment
}

module "vpc" {
  source             = "../vpc"
  name               = local.name
  cidr               = var.cidr
  zones              = var.zones
  single_nat_gateway = var.single_nat_gateway
  kms_key_arn        = module.kms.arn
  cluster_name       = local.name
}

module "eks" {
  source       = "../eks"
  name         = local.name
  subnet_ids   = module.vpc.private_subnet_ids
  kms_key_arn  = module.kms.arn
  admin_cidrs  = var.admin_cidrs
  node_min     = var.node_min
  node_max     = var.node_max
  node_desired = var.node_desired
}

module "secrets" {
  source        = "../secrets"
  environment   = var.environment
  kms_key_arn   = module.kms.arn
  databases     = module.catalog.databases
  secret_env    = module.catalog.environment_secret_env[var.environment]
  minio         = contains(module.catalog.minio_environments, var.environment)
  database_host = module.rds.address
  database_port = module.rds.port
}

module "rds" {
  source                    = "../rds"
  name                      = local.name
  instance_class            = var.db_instance_class
  multi_az                  = var.db_multi_az
  vpc_id                    = module.vpc.vpc_id
  subnet_ids                = module.vpc.private_subnet_ids
  client_security_group_ids = [module.eks.cluster_security_group_id]
  kms_key_arn               = module.kms.arn
  backup_retention_days     = var.db_backup_retention_days
  admin_password            = module.secrets.admin_password
}

module "iam" {
  source             = "../iam"
  name               = local.name
  oidc_provider_arn  = module.eks.oidc_provider_arn
  oidc_issuer        = module.eks.oidc_issuer
  secret_arn_pattern = module.secrets.arn_prefix
  kms_key_arn        = module.kms.arn
  # Services with buckets on AWS S3: role <name>-<service>, trusted by its service account.
  workloads = {
    for service, _ in module.catalog.aws_s3_buckets[var.environment] : service => "${local.name}:${service}"
  }
}

module "object_storage" {
  source       = "../object-storage"
  buckets      = module.catalog.aws_s3_buckets[var.environment]
  roles        = { for service, role in module.iam.workload_roles : service => role.name }
  cors_origins = module.catalog.storefront_origins[var.environment]
  kms_key_arn  = module.kms.arn
}

output "cluster_name" {
  description = "The EKS cluster."
  value       = module.eks.name
}

output "addon_role_arns" {
  description = "IRSA roles: annotate the add-ons' service accounts with them."
  value       = module.iam.role_arns
}

output "database_address" {
  description = "The RDS instance."
  value       = module.rds.address
}

output "service_role_arns" {
  description = "IRSA roles of the services with buckets (the overlay's eks.amazonaws.com/role-arn)."
  value       = { for service, role in module.iam.workload_roles : service => role.arn }
}
