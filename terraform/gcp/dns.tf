# The control host and the apps' wildcard point at the host's address.
# Wildcard certificates for *.<domain> come by DNS-01 in this zone.

resource "google_dns_record_set" "control" {
  managed_zone = data.google_dns_managed_zone.zone.name
  name         = "${local.control_host}."
  type         = "A"
  ttl          = 60
  rrdatas      = [google_compute_address.pier.address]
}

resource "google_dns_record_set" "apps" {
  managed_zone = data.google_dns_managed_zone.zone.name
  name         = "*.${var.domain}."
  type         = "A"
  ttl          = 60
  rrdatas      = [google_compute_address.pier.address]
}
