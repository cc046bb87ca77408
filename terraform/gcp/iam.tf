# The host's service account, least privilege: objects in its own backup
# bucket, its own secret, DNS changes in its own zone (DNS-01), and writing
# logs and metrics. No project-wide role beyond the two writers.

resource "google_service_account" "pier" {
  account_id   = "${var.name}-host"
  display_name = "pier host ${var.name}"
}

resource "google_storage_bucket_iam_member" "backups" {
  bucket = google_storage_bucket.backups.name
  role   = "roles/storage.objectAdmin"
  member = "serviceAccount:${google_service_account.pier.email}"
}

resource "google_secret_manager_secret" "key" {
  secret_id = "${var.name}-secret-key"
  replication {
    auto {}
  }
}

resource "google_secret_manager_secret_iam_member" "key" {
  secret_id = google_secret_manager_secret.key.id
  role      = "roles/secretmanager.secretAccessor"
  member    = "serviceAccount:${google_service_account.pier.email}"
}

resource "google_dns_managed_zone_iam_member" "dns01" {
  managed_zone = data.google_dns_managed_zone.zone.name
  role         = "roles/dns.admin"
  member       = "serviceAccount:${google_service_account.pier.email}"
}

resource "google_project_iam_member" "logs" {
  project = var.project
  role    = "roles/logging.logWriter"
  member  = "serviceAccount:${google_service_account.pier.email}"
}

resource "google_project_iam_member" "metrics" {
  project = var.project
  role    = "roles/monitoring.metricWriter"
  member  = "serviceAccount:${google_service_account.pier.email}"
}
