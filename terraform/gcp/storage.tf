# State: the data disk (pier's data dir) with a daily snapshot schedule,
# and the bucket scheduled backups go to (versioned, old versions expire).

resource "google_compute_disk" "data" {
  name = "${var.name}-data"
  zone = var.zone
  type = "pd-balanced"
  size = var.data_disk_gb
  dynamic "disk_encryption_key" {
    for_each = var.kms_key == "" ? [] : [var.kms_key]
    content {
      kms_key_self_link = disk_encryption_key.value
    }
  }
}

resource "google_compute_resource_policy" "snapshots" {
  name   = "${var.name}-daily"
  region = var.region
  snapshot_schedule_policy {
    schedule {
      daily_schedule {
        days_in_cycle = 1
        start_time    = "03:00"
      }
    }
    retention_policy {
      max_retention_days    = var.snapshot_retention
      on_source_disk_delete = "KEEP_AUTO_SNAPSHOTS"
    }
    snapshot_properties {
      labels = {
        pier-stack = var.name
      }
    }
  }
}

resource "google_compute_disk_resource_policy_attachment" "snapshots" {
  name = google_compute_resource_policy.snapshots.name
  disk = google_compute_disk.data.name
  zone = var.zone
}

resource "google_storage_bucket" "backups" {
  name                        = "${var.project}-${var.name}-backups"
  location                    = var.region
  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"
  force_destroy               = false
  versioning {
    enabled = true
  }
  lifecycle_rule {
    condition {
      days_since_noncurrent_time = var.backup_retention_days
      with_state                 = "ARCHIVED"
    }
    action {
      type = "Delete"
    }
  }
  dynamic "encryption" {
    for_each = var.kms_key == "" ? [] : [var.kms_key]
    content {
      default_kms_key_name = encryption.value
    }
  }
}
