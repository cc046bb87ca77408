# The host's firewall: the proxy's 80 and 443 are open to everyone (and to
# the health checkers); SSH and git over SSH only from ssh_cidrs; the API
# only from api_cidrs, or closed. A static address keeps DNS right across
# replacements.

resource "google_compute_address" "pier" {
  name   = "${var.name}-ip"
  region = var.region
}

resource "google_compute_firewall" "web" {
  name          = "${var.name}-web"
  network       = var.network
  description   = "HTTP(S): apps, the control host, ACME, health checks"
  direction     = "INGRESS"
  source_ranges = ["0.0.0.0/0"]
  target_tags   = [var.name]
  allow {
    protocol = "tcp"
    ports    = ["80", "443"]
  }
}

resource "google_compute_firewall" "ssh" {
  name          = "${var.name}-ssh"
  network       = var.network
  description   = "SSH and git over SSH from ssh_cidrs"
  direction     = "INGRESS"
  source_ranges = var.ssh_cidrs
  target_tags   = [var.name]
  allow {
    protocol = "tcp"
    ports    = ["22", "2222"]
  }
}

resource "google_compute_firewall" "api" {
  count         = length(var.api_cidrs) > 0 ? 1 : 0
  name          = "${var.name}-api"
  network       = var.network
  description   = "pier API from api_cidrs"
  direction     = "INGRESS"
  source_ranges = var.api_cidrs
  target_tags   = [var.name]
  allow {
    protocol = "tcp"
    ports    = ["7070"]
  }
}
