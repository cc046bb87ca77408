# Every variable is checked here, before anything reaches Google Cloud: a
# wrong value fails `plan` with a message that names the variable. The file
# is self-contained (no locals, no resources) so a test can plan it alone.

variable "name" {
  type        = string
  description = "Name of this pier installation; prefixes every resource."
  default     = "pier"
  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,18}[a-z0-9]$", var.name))
    error_message = "name must be 3-20 lower-case letters, digits and dashes, starting with a letter."
  }
}

variable "project" {
  type        = string
  description = "Google Cloud project id."
  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{4,28}[a-z0-9]$", var.project))
    error_message = "project must be a Google Cloud project id (6-30 lower-case letters, digits and dashes)."
  }
}

variable "region" {
  type        = string
  description = "Region, e.g. europe-west3."
  validation {
    condition     = can(regex("^[a-z]+-[a-z]+[0-9]$", var.region))
    error_message = "region must be a Google Cloud region such as europe-west3."
  }
}

variable "zone" {
  type        = string
  description = "Zone of the host and its data disk, inside region, e.g. europe-west3-a."
  validation {
    condition     = can(regex("^[a-z]+-[a-z]+[0-9]-[a-z]$", var.zone)) && startswith(var.zone, "${var.region}-")
    error_message = "zone must be a zone of region, such as europe-west3-a for europe-west3."
  }
}

variable "network" {
  type        = string
  description = "VPC network the host joins."
  default     = "default"
  validation {
    condition     = length(var.network) > 0
    error_message = "network must name a VPC network."
  }
}

variable "machine_type" {
  type        = string
  description = "Machine type of the pier host. pier builds apps on it: 2 GB of memory at least (e2-small), 4 GB recommended (e2-medium)."
  default     = "e2-medium"
  validation {
    condition     = can(regex("^[a-z0-9]+-[a-z0-9-]+$", var.machine_type)) && !contains(["f1-micro", "g1-small", "e2-micro"], var.machine_type)
    error_message = "machine_type must have 2 GB of memory or more (e2-small or larger): f1-micro, g1-small and e2-micro are too small for pier's builds."
  }
}

variable "image" {
  type        = string
  description = "Boot image of the host."
  default     = "debian-cloud/debian-12"
  validation {
    condition     = length(var.image) > 0
    error_message = "image must name a boot image, such as debian-cloud/debian-12."
  }
}

variable "boot_disk_gb" {
  type        = number
  description = "Size of the boot disk in GB."
  default     = 20
  validation {
    condition     = var.boot_disk_gb >= 10 && var.boot_disk_gb <= 1024
    error_message = "boot_disk_gb must be between 10 and 1024."
  }
}

variable "data_disk_gb" {
  type        = number
  description = "Size of the persistent disk mounted at /var/lib/pier (slugs, git repositories, the store)."
  default     = 40
  validation {
    condition     = var.data_disk_gb >= 10 && var.data_disk_gb <= 65536
    error_message = "data_disk_gb must be between 10 and 65536."
  }
}

variable "kms_key" {
  type        = string
  description = "Cloud KMS key (projects/.../cryptoKeys/...) for the disks and the bucket; empty uses Google-managed encryption."
  default     = ""
  validation {
    condition     = var.kms_key == "" || can(regex("^projects/[^/]+/locations/[^/]+/keyRings/[^/]+/cryptoKeys/[^/]+$", var.kms_key))
    error_message = "kms_key must be empty or a key name projects/P/locations/L/keyRings/R/cryptoKeys/K."
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

variable "dns_zone" {
  type        = string
  description = "Cloud DNS managed zone (its name, not its DNS name) that holds domain; pier's records and DNS-01 challenges go there."
  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{0,62}$", var.dns_zone))
    error_message = "dns_zone must be the name of the Cloud DNS managed zone holding domain (e.g. example-com): a domain needs its zone."
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
    error_message = "ssh_cidrs must list at least one valid CIDR (e.g. [\"203.0.113.0/24\"]); IAP's range 35.235.240.0/20 gives SSH through `gcloud compute ssh --tunnel-through-iap` only."
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
  description = "HTTPS URL of the pier release binary (linux/amd64) the boot script installs."
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
  description = "Days daily snapshots of the data disk are kept."
  default     = 7
  validation {
    condition     = var.snapshot_retention >= 1 && var.snapshot_retention <= 1000
    error_message = "snapshot_retention must be between 1 and 1000."
  }
}

variable "alarm_email" {
  type        = string
  description = "Email the alert policy notifies; empty notifies none (the incidents still show in Cloud Monitoring)."
  default     = ""
  validation {
    condition     = var.alarm_email == "" || can(regex("^[^@\\s]+@[^@\\s]+\\.[^@\\s]+$", var.alarm_email))
    error_message = "alarm_email must be empty or an email address."
  }
}
