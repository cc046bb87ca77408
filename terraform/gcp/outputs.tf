output "control_url" {
  description = "The API and git remote host: pier login --api <control_url>."
  value       = "https://${local.control_host}"
}

output "apps_url" {
  description = "Apps are served at https://APP.<domain>."
  value       = "https://APP.${var.domain}"
}

output "public_ip" {
  description = "The host's static address (DNS points here)."
  value       = google_compute_address.pier.address
}

output "instance_group" {
  description = "The managed group of one that runs the host; auto-healing replaces it."
  value       = google_compute_instance_group_manager.pier.name
}

output "data_disk" {
  description = "The persistent disk holding /var/lib/pier."
  value       = google_compute_disk.data.name
}

output "backup_url" {
  description = "Where backups go: pier backup create --to <backup_url>."
  value       = local.backup_url
}

output "secret_key_secret" {
  description = "Secret Manager secret for the agent's secret key (add its value once; see docs/clouds.md)."
  value       = google_secret_manager_secret.key.secret_id
}
