# IRSA roles for the cluster add-ons Mercato relies on: the AWS Load Balancer Controller
# (ALB ingress), External Secrets (Secrets Manager, this environment's entries only) and
# the EBS CSI driver (volumes of MinIO and NATS); and, with the same trust, for the
# workloads given in `workloads` (the services with buckets on AWS S3, whose policies
# modules/object-storage attaches).

variable "name" {
  description = "Name prefix."
  type        = string
}

variable "oidc_provider_arn" {
  description = "The cluster's OIDC provider."
  type        = string
}

variable "oidc_issuer" {
  description = "The issuer URL without scheme."
  type        = string
}

variable "secret_arn_pattern" {
  description = "Secrets External Secrets may read."
  type        = string
}

variable "kms_key_arn" {
  description = "Key the secrets are encrypted with."
  type        = string
}

variable "workloads" {
  description = "More roles: role name suffix to the namespace:name of the one service account trusted."
  type        = map(string)
  default     = {}
}

locals {
  addons = {
    load-balancer-controller = "kube-system:aws-load-balancer-controller"
    external-secrets         = "external-secrets:external-secrets"
    ebs-csi                  = "kube-system:ebs-csi-controller-sa"
  }
  service_accounts = merge(local.addons, var.workloads)
}

data "aws_iam_policy_document" "assume" {
  for_each = local.service_accounts
  statement {
    actions = ["sts:AssumeRoleWithWebIdentity"]
    principals {
      type        = "Federated"
      identifiers = [var.oidc_provider_arn]
    }
    condition {
      test     = "StringEquals"
      variable = "${var.oidc_issuer}:sub"
      values   = ["system:serviceaccount:${each.value}"]
    }
    condition {
      test     = "StringEquals"
      variable = "${var.oidc_issuer}:aud"
      values   = ["sts.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "this" {
  for_each           = local.service_accounts
  name               = "${var.name}-${each.key}"
  assume_role_policy = data.aws_iam_policy_document.assume[each.key].json
}

data "aws_iam_policy_document" "external_secrets" {
  statement {
    actions   = ["secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret"]
    resources = [var.secret_arn_pattern]
  }
  statement {
    actions   = ["kms:Decrypt"]
    resources = [var.kms_key_arn]
  }
}

resource "aws_iam_role_policy" "external_secrets" {
  role   = aws_iam_role.this["external-secrets"].id
  policy = data.aws_iam_policy_document.external_secrets.json
}

resource "aws_iam_role_policy_attachment" "ebs_csi" {
  role       = aws_iam_role.this["ebs-csi"].name
  policy_arn = "arn:aws:iam::aws:policy/service-role/AmazonEBSCSIDriverPolicy"
}

# The controller's policy as published with aws-load-balancer-controller v2.x
# (docs/install/iam_policy.json), reduced to what an internet-facing ALB with ACM needs.
# Describe and Get calls cannot be scoped by resource; changes are limited to resources
# the controller tagged itself (elbv2.k8s.aws/cluster).
data "aws_iam_policy_document" "load_balancer_controller" {
  #checkov:skip=CKV_AWS_111:upstream controller policy; writes are conditioned on the controller's own tags
  #checkov:skip=CKV_AWS_356:Describe and Create calls of ELB/EC2 cannot be scoped to resource ARNs
  statement {
    sid = "Read"
    actions = [
      "ec2:DescribeAccountAttributes", "ec2:DescribeAddresses", "ec2:DescribeAvailabilityZones",
      "ec2:DescribeInternetGateways", "ec2:DescribeVpcs", "ec2:DescribeVpcPeeringConnections",
      "ec2:DescribeSubnets", "ec2:DescribeSecurityGroups", "ec2:DescribeInstances",
      "ec2:DescribeNetworkInterfaces", "ec2:DescribeTags", "ec2:DescribeCoipPools",
      "ec2:GetCoipPoolUsage", "ec2:DescribeRouteTables",
      "elasticloadbalancing:DescribeLoadBalancers", "elasticloadbalancing:DescribeLoadBalancerAttributes",
      "elasticloadbalancing:DescribeListeners", "elasticloadbalancing:DescribeListenerCertificates",
      "elasticloadbalancing:DescribeListenerAttributes", "elasticloadbalancing:DescribeSSLPolicies",
      "elasticloadbalancing:DescribeRules", "elasticloadbalancing:DescribeTargetGroups",
      "elasticloadbalancing:DescribeTargetGroupAttributes", "elasticloadbalancing:DescribeTargetHealth",
      "elasticloadbalancing:DescribeTags", "elasticloadbalancing:DescribeTrustStores",
      "acm:ListCertificates", "acm:DescribeCertificate", "iam:ListServerCertificates",
      "iam:GetServerCertificate", "wafv2:GetWebACLForResource", "shield:GetSubscriptionState",
    ]
    resources = ["*"]
  }
  statement {
    sid = "CreateTagged"
    actions = [
      "ec2:CreateSecurityGroup", "elasticloadbalancing:CreateLoadBalancer",
      "elasticloadbalancing:CreateTargetGroup",
    ]
    resources = ["*"]
    condition {
      test     = "Null"
      variable = "aws:RequestTag/elbv2.k8s.aws/cluster"
      values   = ["false"]
    }
  }
  statement {
    sid = "ChangeOwned"
    actions = [
      "ec2:AuthorizeSecurityGroupIngress", "ec2:RevokeSecurityGroupIngress", "ec2:DeleteSecurityGroup",
      "ec2:CreateTags", "ec2:DeleteTags",
      "elasticloadbalancing:ModifyLoadBalancerAttributes", "elasticloadbalancing:SetIpAddressType",
      "elasticloadbalancing:SetSecurityGroups", "elasticloadbalancing:SetSubnets",
      "elasticloadbalancing:DeleteLoadBalancer", "elasticloadbalancing:ModifyTargetGroup",
      "elasticloadbalancing:ModifyTargetGroupAttributes", "elasticloadbalancing:DeleteTargetGroup",
      "elasticloadbalancing:AddTags", "elasticloadbalancing:RemoveTags",
      "elasticloadbalancing:RegisterTargets", "elasticloadbalancing:DeregisterTargets",
      "elasticloadbalancing:ModifyListenerAttributes",
    ]
    resources = ["*"]
    condition {
      test     = "Null"
      variable = "aws:ResourceTag/elbv2.k8s.aws/cluster"
      values   = ["false"]
    }
  }
  statement {
    sid = "Listeners"
    actions = [
      "elasticloadbalancing:CreateListener", "elasticloadbalancing:DeleteListener",
      "elasticloadbalancing:CreateRule", "elasticloadbalancing:DeleteRule",
      "elasticloadbalancing:ModifyListener", "elasticloadbalancing:ModifyRule",
      "elasticloadbalancing:AddListenerCertificates", "elasticloadbalancing:RemoveListenerCertificates",
    ]
    resources = ["*"]
  }
}

resource "aws_iam_role_policy" "load_balancer_controller" {
  role   = aws_iam_role.this["load-balancer-controller"].id
  policy = data.aws_iam_policy_document.load_balancer_controller.json
}

output "role_arns" {
  description = "Role ARN per add-on, for the service account annotations."
  value       = { for key in keys(local.addons) : key => aws_iam_role.this[key].arn }
}

output "workload_roles" {
  description = "Role name and ARN per workload (keys of var.workloads)."
  value       = { for key in keys(var.workloads) : key => { name = aws_iam_role.this[key].name, arn = aws_iam_role.this[key].arn } }
}
