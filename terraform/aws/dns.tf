# The control host and the apps' wildcard point at the host's address.
# Wildcard certificates for *.<domain> come by DNS-01 in this zone.

resource "aws_route53_record" "control" {
  zone_id = var.zone_id
  name    = local.control_host
  type    = "A"
  ttl     = 60
  records = [aws_eip.pier.public_ip]
}

resource "aws_route53_record" "apps" {
  zone_id = var.zone_id
  name    = "*.${var.domain}"
  type    = "A"
  ttl     = 60
  records = [aws_eip.pier.public_ip]
}
