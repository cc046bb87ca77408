# Every variable is checked here, before anything reaches AWS: a wrong
# value fails `plan` with a message that names the variable. The file is
# self-contained (no locals, no resources) so a test can plan it alone.

variable "name" {
  type        = string
  description = "Name of this pier installation; prefixes every resource."
  default     = "pier"
  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,30}[a-z0-9]$", var.name))
    error_message = "name must be 3-32 lower-case letters, digits and dashes, starting with a letter."
  }
}

variable "region" {
  type        = string
  description = "AWS region, e.g. eu-central-1."
  validation {
    condition     = can(regex("^[a-z]{2}(-gov)?-[a-z]+-[0-9]$", var.region))
    error_message = "region must be an AWS region name such as eu-central-1."
  }
}

variable "vpc_id" {
  type        = string
  description = "VPC to run in."
  validation {
    condition     = can(regex("^vpc-[0-9a-f]{8,17}$", var.vpc_id))
    error_message = "vpc_id must be a VPC id such as vpc-0123456789abcdef0."
  }
}

variable "subnet_id" {
  type        = string
  description = "Public subnet for the pier host. Its availability zone is the data volume's: a replacement instance starts there to re-attach it."
  validation {
    condition     = can(regex("^subnet-[0-9a-f]{8,17}$", var.subnet_id))
    error_message = "subnet_id must be a subnet id such as subnet-0123456789abcdef0."
  }
}

variable "instance_type" {
  type        = string
  description = "EC2 instance type of the pier host. pier builds apps on it: 2 GiB of memory at least (t3.small), 4 GiB recommended (t3.medium)."
  default     = "t3.medium"
  validation {
    condition     = can(regex("^[a-z][a-z0-9-]*\\.[a-z0-9]+$", var.instance_type)) && !can(regex("\\.(nano|micro)$", var.instance_type))
    error_message = "instance_type must be an EC2 type with 2 GiB of memory or more (t3.small or larger): nano and micro sizes are too small for pier's builds."
  }
}

variable "root_volume_gb" {
  type        = number
  description = "Size of the encrypted gp3 root volume in GiB."
  default     = 20
  validation {
    condition     = var.root_volume_gb >= 10 && var.root_volume_gb <= 1024
    error_message = "root_volume_gb must be between 10 and 1024."
  }
}

variable "data_volume_gb" {
  type        = number
  description = "Size of the encrypted gp3 data volume mounted at /var/lib/pier (slugs, git repositories, the store)."
  default     = 40
  validation {
    condition     = var.data_volume_gb >= 10 && var.data_volume_gb <= 16384
    error_message = "data_volume_gb must be between 10 and 16384."
  }
}

variable "kms_key_arn" {
  type        = string
  description = "KMS key for the volumes and the backup bucket; empty uses the AWS-managed keys."
  default     = ""
  validation {
    condition     = var.kms_key_arn == "" || can(regex("^arn:aws[a-z-]*:kms:", var.kms_key_arn))
    error_message = "kms_key_arn must be empty or a KMS key ARN (arn:aws:kms:...)."
  }
}

variable "domain" {
  type        = string
  description = "Apps are served at APP.<domain>, the API at pier.<domain>."
  validation {
    condition     = can(regex("^([a-z0-9]([a-z0-9-]*[a-z0-9])?\\.)+[a-z]{2,}$", var.domain))
    error_message = "domain must be a DNS name such as apps.example.com (lower case, no scheme, no trailing dot)."
  }
}

variable "zone_id" {
  type        = string
  description = "Route53 hosted zone that holds domain; pier's records and DNS-01 challenges go there."
  validation {
    condition     = can(regex("^Z[A-Z0-9]{4,32}$", var.zone_id))
    error_message = "zone_id must be the Route53 hosted zone id (Z...) of the zone holding domain: a domain needs its zone."
  }
}

variable "acme_email" {
  type        = string
  description = "Email for the ACME (Let's Encrypt) account."
  validation {
    condition     = can(regex("^[^@\\s]+@[^@\\s]+\\.[^@\\s]+$", var.acme_email))
    error_message = "acme_email must be an email address."
  }
}

variable "ssh_cidrs" {
  type        = list(string)
  description = "CIDRs that may reach SSH (22) and git over SSH (2222). No default: name your office or VPN."
  validation {
    condition     = length(var.ssh_cidrs) > 0 && alltrue([for c in var.ssh_cidrs : can(cidrhost(c, 0))])
    error_message = "ssh_cidrs must list at least one valid CIDR (e.g. [\"203.0.113.0/24\"]); use SSM Session Manager and an unroutable CIDR if you want none."
  }
  validation {
    condition     = !contains(var.ssh_cidrs, "0.0.0.0/0") || var.allow_world_ssh
    error_message = "ssh_cidrs contains 0.0.0.0/0: SSH would be open to the internet. Name narrower CIDRs, or set allow_world_ssh = true to mean it."
  }
}

variable "allow_world_ssh" {
  type        = bool
  description = "Allow 0.0.0.0/0 in ssh_cidrs (not recommended)."
  default     = false
}

variable "api_cidrs" {
  type        = list(string)
  description = "CIDRs that may reach the API port (7070) directly. Empty (the default) closes it: the CLI and git use https://pier.<domain> through the proxy."
  default     = []
  validation {
    condition     = alltrue([for c in var.api_cidrs : can(cidrhost(c, 0)) && c != "0.0.0.0/0" && c != "::/0"])
    error_message = "api_cidrs must be valid CIDRs and not the whole internet (0.0.0.0/0, ::/0): the API is reachable through https://pier.<domain> already."
  }
}

variable "pier_url" {
  type        = string
  description = "HTTPS URL of the pier release binary (linux, the instance's architecture) the boot script installs."
  validation {
    condition     = startswith(var.pier_url, "https://")
    error_message = "pier_url must be an https:// URL of a pier release binary."
  }
}

variable "pier_sha256" {
  type        = string
  description = "SHA-256 of the binary at pier_url; the boot script refuses any other."
  validation {
    condition     = can(regex("^[0-9a-f]{64}$", var.pier_sha256))
    error_message = "pier_sha256 must be the 64 lower-case hex digits of the binary's SHA-256 (sha256sum pier)."
  }
}

variable "backup_schedule" {
  type        = string
  description = "When the agent backs up to the bucket: an interval (6h) or a cron expression (\"0 3 * * *\", @daily)."
  default     = "@daily"
  validation {
    condition     = length(trimspace(var.backup_schedule)) > 0
    error_message = "backup_schedule must be an interval such as 6h or a cron expression such as @daily: the replacement of a lost volume restores the newest backup."
  }
}

variable "backup_keep" {
  type        = number
  description = "Scheduled backups the agent keeps in the bucket; older ones are deleted (and expire from versioning after backup_retention_days)."
  default     = 14
  validation {
    condition     = var.backup_keep >= 1 && floor(var.backup_keep) == var.backup_keep
    error_message = "backup_keep must be a whole number of 1 or more."
  }
}

variable "backup_retention_days" {
  type        = number
  description = "Days the backup bucket keeps old (noncurrent) backup versions."
  default     = 30
  validation {
    condition     = var.backup_retention_days >= 1 && var.backup_retention_days <= 3650
    error_message = "backup_retention_days must be between 1 and 3650."
  }
}

variable "snapshot_retention" {
  type        = number
  description = "Daily snapshots of the data volume to keep."
  default     = 7
  validation {
    condition     = var.snapshot_retention >= 1 && var.snapshot_retention <= 1000
    error_message = "snapshot_retention must be between 1 and 1000."
  }
}

variable "alarm_email" {
  type        = string
  description = "Email subscribed to the alarms' SNS topic; empty subscribes none."
  default     = ""
  validation {
    condition     = var.alarm_email == "" || can(regex("^[^@\\s]+@[^@\\s]+\\.[^@\\s]+$", var.alarm_email))
    error_message = "alarm_email must be empty or an email address."
  }
}

variable "nomad_clients" {
  type        = number
  description = "Nomad client instances for teams past one VM (0: apps run on the pier host)."
  default     = 0
  validation {
    condition     = var.nomad_clients >= 0 && var.nomad_clients <= 100 && floor(var.nomad_clients) == var.nomad_clients
    error_message = "nomad_clients must be a whole number from 0 to 100."
  }
}

variable "nomad_client_instance_type" {
  type        = string
  description = "Instance type of the Nomad clients."
  default     = "t3.medium"
  validation {
    condition     = can(regex("^[a-z][a-z0-9-]*\\.[a-z0-9]+$", var.nomad_client_instance_type)) && !can(regex("\\.(nano|micro)$", var.nomad_client_instance_type))
    error_message = "nomad_client_instance_type must be an EC2 type with 2 GiB of memory or more (t3.small or larger)."
  }
}

variable "ami_id" {
  type        = string
  description = "AMI for the hosts; empty takes the latest Debian 12 for amd64."
  default     = ""
  validation {
    condition     = var.ami_id == "" || can(regex("^ami-[0-9a-f]{8,17}$", var.ami_id))
    error_message = "ami_id must be empty or an AMI id such as ami-0123456789abcdef0."
  }
}
