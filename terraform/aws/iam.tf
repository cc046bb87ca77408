# The host's instance profile, least privilege: its own backup prefix, its secret key's parameter, the
# data volume (attach on boot), metrics in pier's namespace, SSM for a shell
# without SSH, and TXT records under _acme-challenge in its zone (DNS-01).
# No statement has a "*" action; the only "*" resources are actions AWS
# offers no resource-level permission for, and a condition holds those.

data "aws_iam_policy_document" "assume_ec2" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["ec2.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "pier" {
  name_prefix        = "${var.name}-host-"
  assume_role_policy = data.aws_iam_policy_document.assume_ec2.json
}

resource "aws_iam_instance_profile" "pier" {
  name_prefix = "${var.name}-host-"
  role        = aws_iam_role.pier.name
}

data "aws_iam_policy_document" "pier" {
  statement {
    sid       = "ListBackups"
    actions   = ["s3:ListBucket"]
    resources = [aws_s3_bucket.backups.arn]
    condition {
      test     = "StringLike"
      variable = "s3:prefix"
      values   = ["pier/*", "pier/"]
    }
  }
  statement {
    sid       = "ReadWriteBackups"
    actions   = ["s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload"]
    resources = ["${aws_s3_bucket.backups.arn}/pier/*"]
  }
  statement {
    sid       = "AttachDataVolume"
    actions   = ["ec2:AttachVolume"]
    resources = [aws_ebs_volume.data.arn]
  }
  statement {
    sid       = "AssociateAddress"
    actions   = ["ec2:AssociateAddress"]
    resources = ["arn:${local.partition}:ec2:${var.region}:${local.account}:elastic-ip/${aws_eip.pier.allocation_id}"]
  }
  statement {
    sid       = "AssociateOnOwnSubnet"
    actions   = ["ec2:AssociateAddress"]
    resources = ["arn:${local.partition}:ec2:${var.region}:${local.account}:network-interface/*"]
    condition {
      test     = "StringEquals"
      variable = "ec2:Subnet"
      values   = [data.aws_subnet.pier.arn]
    }
  }
  statement {
    sid       = "AttachToOwnInstances"
    actions   = ["ec2:AttachVolume", "ec2:AssociateAddress"]
    resources = ["arn:${local.partition}:ec2:${var.region}:${local.account}:instance/*"]
    condition {
      test     = "StringEquals"
      variable = "aws:ResourceTag/pier:stack"
      values   = [var.name]
    }
  }
  statement {
    sid       = "ReadSecretKey"
    actions   = ["ssm:GetParameter"]
    resources = ["arn:${local.partition}:ssm:${var.region}:${local.account}:parameter${local.secret_param}"]
  }
  statement {
    sid       = "PutPierMetrics"
    actions   = ["cloudwatch:PutMetricData"]
    resources = ["*"] # PutMetricData has no resource-level permissions
    condition {
      test     = "StringEquals"
      variable = "cloudwatch:namespace"
      values   = ["Pier"]
    }
  }
  statement {
    sid       = "DNS01Records"
    actions   = ["route53:ChangeResourceRecordSets"]
    resources = ["arn:${local.partition}:route53:::hostedzone/${var.zone_id}"]
    condition {
      test     = "ForAllValues:StringEquals"
      variable = "route53:ChangeResourceRecordSetsRecordTypes"
      values   = ["TXT"]
    }
    condition {
      test     = "ForAllValues:StringLike"
      variable = "route53:ChangeResourceRecordSetsNormalizedRecordNames"
      values   = ["_acme-challenge.${var.domain}", "_acme-challenge.*.${var.domain}"]
    }
  }
  statement {
    sid       = "DNS01Read"
    actions   = ["route53:ListResourceRecordSets"]
    resources = ["arn:${local.partition}:route53:::hostedzone/${var.zone_id}"]
  }
  statement {
    sid       = "DNS01Wait"
    actions   = ["route53:GetChange"]
    resources = ["arn:${local.partition}:route53:::change/*"]
  }
}

resource "aws_iam_role_policy" "pier" {
  name   = "pier-host"
  role   = aws_iam_role.pier.id
  policy = data.aws_iam_policy_document.pier.json
}

# Session Manager instead of an open SSH port; AWS's own minimal policy.
resource "aws_iam_role_policy_attachment" "ssm" {
  role       = aws_iam_role.pier.name
  policy_arn = "arn:${local.partition}:iam::aws:policy/AmazonSSMManagedInstanceCore"
}
