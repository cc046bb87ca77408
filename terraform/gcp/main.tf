# pier on Compute Engine: one host in a managed instance group of one
# (auto-healing on /readyz replaces a failed one), its state on a stateful
# persistent disk the replacement keeps, backups in Cloud Storage, DNS in
# Cloud DNS, an uptime check and alert in Cloud Monitoring. The boot script
# (../boot) is the same on AWS.

data "google_dns_managed_zone" "zone" {
  name = var.dns_zone
}

locals {
  control_host = "pier.${var.domain}"
  backup_url   = "gs://${google_storage_bucket.backups.name}/pier"
  data_device  = "pier-data"
  boot = templatefile("${path.module}/../boot/cloud-init.yaml.tftpl", {
    boot_script = file("${path.module}/../boot/pier-boot.sh")
    env = {
      PIER_BOOT_CLOUD      = "gcp"
      PIER_BOOT_URL        = var.pier_url
      PIER_BOOT_SHA256     = var.pier_sha256
      PIER_BOOT_VOLUME     = local.data_device
      PIER_BOOT_BACKUPS    = local.backup_url
      PIER_BOOT_DATA_MOUNT = "/var/lib/pier"
      # The secret key lives in Secret Manager, its value added by the
      # operator (docs/clouds.md), never in Terraform's state.
      PIER_BOOT_SECRET = google_secret_manager_secret.key.secret_id
      PIER_HTTP_ADDR   = ":80"
      PIER_HTTPS_ADDR  = ":443"
      PIER_SSH_ADDR    = ":2222"
      PIER_API_ADDR    = length(var.api_cidrs) > 0 ? "0.0.0.0:7070" : "127.0.0.1:7070"
      PIER_DOMAIN      = var.domain
      PIER_ACME_EMAIL  = var.acme_email
      # One wildcard certificate for every app, by DNS-01 in the zone.
      PIER_ACME_DNS         = "gcloud"
      PIER_ACME_DNS_ZONE    = var.dns_zone
      PIER_ACME_DNS_PROJECT = var.project
      # Scheduled backups to the bucket, as the VM's service account
      # (Application Default Credentials): no key to make or keep.
      PIER_BACKUP_TO       = local.backup_url
      PIER_BACKUP_SCHEDULE = var.backup_schedule
      PIER_BACKUP_KEEP     = tostring(var.backup_keep)
    }
  })
}
