# The host: an instance template (Shielded VM, OS Login, no project SSH
# keys, its own service account) in a managed group of exactly one.
# Auto-healing recreates it when /readyz fails; the data disk is stateful,
# so the new instance gets the same disk (or restores the latest backup
# onto an empty one).

resource "google_compute_instance_template" "pier" {
  name_prefix  = "${var.name}-"
  machine_type = var.machine_type
  tags         = [var.name]

  disk {
    source_image = var.image
    boot         = true
    auto_delete  = true
    disk_type    = "pd-balanced"
    disk_size_gb = var.boot_disk_gb
    dynamic "disk_encryption_key" {
      for_each = var.kms_key == "" ? [] : [var.kms_key]
      content {
        kms_key_self_link = disk_encryption_key.value
      }
    }
  }

  network_interface {
    network = var.network
    access_config {
      nat_ip = google_compute_address.pier.address
    }
  }

  service_account {
    email  = google_service_account.pier.email
    scopes = ["cloud-platform"]
  }

  shielded_instance_config {
    enable_secure_boot          = true
    enable_vtpm                 = true
    enable_integrity_monitoring = true
  }

  metadata = {
    user-data              = local.boot
    enable-oslogin         = "TRUE"
    block-project-ssh-keys = "TRUE"
  }

  lifecycle {
    create_before_destroy = true
  }
}

resource "google_compute_health_check" "readyz" {
  name                = "${var.name}-readyz"
  check_interval_sec  = 30
  timeout_sec         = 10
  healthy_threshold   = 1
  unhealthy_threshold = 4
  https_health_check {
    port         = 443
    host         = local.control_host
    request_path = "/readyz"
  }
}

resource "google_compute_instance_group_manager" "pier" {
  name               = "${var.name}-host"
  zone               = var.zone
  base_instance_name = var.name
  target_size        = 1

  version {
    instance_template = google_compute_instance_template.pier.id
  }

  auto_healing_policies {
    health_check      = google_compute_health_check.readyz.id
    initial_delay_sec = 600
  }

  stateful_disk {
    device_name = local.data_device
    delete_rule = "NEVER"
  }

  # One instance owns the disk: replace it, never run two.
  update_policy {
    type                  = "OPPORTUNISTIC"
    minimal_action        = "REPLACE"
    replacement_method    = "RECREATE"
    max_surge_fixed       = 0
    max_unavailable_fixed = 1
  }
}

# The data disk, attached to the group's instance as stateful state.
resource "google_compute_per_instance_config" "pier" {
  zone                   = var.zone
  instance_group_manager = google_compute_instance_group_manager.pier.name
  name                   = "${var.name}-host-0"
  preserved_state {
    disk {
      device_name = local.data_device
      source      = google_compute_disk.data.id
      mode        = "READ_WRITE"
      delete_rule = "NEVER"
    }
  }
}
