# The host's firewall: the proxy's 80 and 443 are open to everyone; SSH and
# git over SSH only from ssh_cidrs; the API only from api_cidrs, or closed
# (the CLI reaches it through https://pier.<domain>).

resource "aws_security_group" "pier" {
  name_prefix = "${var.name}-"
  description = "pier host: HTTP(S) open, SSH and API restricted"
  vpc_id      = var.vpc_id
  lifecycle {
    create_before_destroy = true
  }
}

resource "aws_vpc_security_group_ingress_rule" "http" {
  security_group_id = aws_security_group.pier.id
  description       = "HTTP (ACME HTTP-01, redirects)"
  ip_protocol       = "tcp"
  from_port         = 80
  to_port           = 80
  cidr_ipv4         = "0.0.0.0/0"
}

resource "aws_vpc_security_group_ingress_rule" "https" {
  security_group_id = aws_security_group.pier.id
  description       = "HTTPS: apps and the control host"
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
  cidr_ipv4         = "0.0.0.0/0"
}

resource "aws_vpc_security_group_ingress_rule" "ssh" {
  for_each          = toset(var.ssh_cidrs)
  security_group_id = aws_security_group.pier.id
  description       = "SSH"
  ip_protocol       = "tcp"
  from_port         = 22
  to_port           = 22
  cidr_ipv4         = each.value
}

resource "aws_vpc_security_group_ingress_rule" "git_ssh" {
  for_each          = toset(var.ssh_cidrs)
  security_group_id = aws_security_group.pier.id
  description       = "git over SSH"
  ip_protocol       = "tcp"
  from_port         = 2222
  to_port           = 2222
  cidr_ipv4         = each.value
}

resource "aws_vpc_security_group_ingress_rule" "api" {
  for_each          = toset(var.api_cidrs)
  security_group_id = aws_security_group.pier.id
  description       = "pier API"
  ip_protocol       = "tcp"
  from_port         = 7070
  to_port           = 7070
  cidr_ipv4         = each.value
}

resource "aws_vpc_security_group_egress_rule" "all" {
  security_group_id = aws_security_group.pier.id
  description       = "packages, ACME, S3, buildpack downloads"
  ip_protocol       = "-1"
  cidr_ipv4         = "0.0.0.0/0"
}
