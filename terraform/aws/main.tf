# pier on EC2: one host in an auto-scaling group of one (a lost or failed
# instance is replaced), its state on a separate encrypted EBS volume that
# the replacement re-attaches, backups in S3, DNS in Route53, alarms in
# CloudWatch. The boot script (../boot) is the same on GCP.

data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}

data "aws_subnet" "pier" {
  id = var.subnet_id
}

data "aws_ami" "debian" {
  count       = var.ami_id == "" ? 1 : 0
  most_recent = true
  owners      = ["136693071363"] # Debian's AWS account
  filter {
    name   = "name"
    values = ["debian-12-amd64-*"]
  }
  filter {
    name   = "architecture"
    values = ["x86_64"]
  }
}

locals {
  tags = {
    "pier:stack" = var.name
  }
  ami          = var.ami_id != "" ? var.ami_id : data.aws_ami.debian[0].id
  az           = data.aws_subnet.pier.availability_zone
  account      = data.aws_caller_identity.current.account_id
  partition    = data.aws_partition.current.partition
  control_host = "pier.${var.domain}"
  backup_url   = "s3://${aws_s3_bucket.backups.bucket}/pier"
  # The secret key lives in SSM Parameter Store, put there by the operator
  # (docs/clouds.md), never in Terraform's state; the boot script reads it
  # only to restore onto an empty volume.
  secret_param = "/${var.name}/secret-key"
  boot = templatefile("${path.module}/../boot/cloud-init.yaml.tftpl", {
    boot_script = file("${path.module}/../boot/pier-boot.sh")
    env = {
      PIER_BOOT_CLOUD      = "aws"
      PIER_BOOT_URL        = var.pier_url
      PIER_BOOT_SHA256     = var.pier_sha256
      PIER_BOOT_VOLUME     = aws_ebs_volume.data.id
      PIER_BOOT_EIP        = aws_eip.pier.allocation_id
      PIER_BOOT_BACKUPS    = local.backup_url
      PIER_BOOT_DATA_MOUNT = "/var/lib/pier"
      PIER_BOOT_SECRET     = local.secret_param
      PIER_HTTP_ADDR       = ":80"
      PIER_HTTPS_ADDR      = ":443"
      PIER_SSH_ADDR        = ":2222"
      PIER_API_ADDR        = length(var.api_cidrs) > 0 || var.nomad_clients > 0 ? "0.0.0.0:7070" : "127.0.0.1:7070"
      PIER_DOMAIN          = var.domain
      PIER_ACME_EMAIL      = var.acme_email
      # One wildcard certificate for every app, by DNS-01 in the zone
      # (by id: the instance profile may not list zones).
      PIER_ACME_DNS          = "route53"
      PIER_ACME_DNS_ZONE     = var.zone_id
      PIER_BACKUP_TO         = local.backup_url
      PIER_BACKUP_SCHEDULE   = var.backup_schedule
      PIER_BACKUP_KEEP       = tostring(var.backup_keep)
      AWS_REGION             = var.region
      PIER_BOOT_CW_NAMESPACE = "Pier"
    }
  })
}
