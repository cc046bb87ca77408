# Optional Nomad clients for teams past one VM (nomad_clients > 0): a
# launch template like the host's (IMDSv2 only, encrypted root) and a group
# of N. They reach the pier host's API for slugs inside the security group;
# nothing of theirs is open to the internet. Running Nomad's servers and
# joining the clients is docs/nomad.md's part; this gives them machines.

resource "aws_security_group" "nomad" {
  count       = var.nomad_clients > 0 ? 1 : 0
  name_prefix = "${var.name}-nomad-"
  description = "Nomad clients of pier: reachable from the pier host only"
  vpc_id      = var.vpc_id
  lifecycle {
    create_before_destroy = true
  }
}

resource "aws_vpc_security_group_ingress_rule" "nomad_from_pier" {
  count                        = var.nomad_clients > 0 ? 1 : 0
  security_group_id            = aws_security_group.nomad[0].id
  description                  = "the pier host's proxy and Nomad RPC"
  ip_protocol                  = "tcp"
  from_port                    = 1024
  to_port                      = 65535
  referenced_security_group_id = aws_security_group.pier.id
}

resource "aws_vpc_security_group_ingress_rule" "pier_from_nomad" {
  count                        = var.nomad_clients > 0 ? 1 : 0
  security_group_id            = aws_security_group.pier.id
  description                  = "Nomad clients fetch slugs from the API"
  ip_protocol                  = "tcp"
  from_port                    = 7070
  to_port                      = 7070
  referenced_security_group_id = aws_security_group.nomad[0].id
}

resource "aws_vpc_security_group_egress_rule" "nomad_all" {
  count             = var.nomad_clients > 0 ? 1 : 0
  security_group_id = aws_security_group.nomad[0].id
  description       = "packages and the pier host"
  ip_protocol       = "-1"
  cidr_ipv4         = "0.0.0.0/0"
}

resource "aws_iam_role" "nomad" {
  count              = var.nomad_clients > 0 ? 1 : 0
  name_prefix        = "${var.name}-nomad-"
  assume_role_policy = data.aws_iam_policy_document.assume_ec2.json
}

resource "aws_iam_role_policy_attachment" "nomad_ssm" {
  count      = var.nomad_clients > 0 ? 1 : 0
  role       = aws_iam_role.nomad[0].name
  policy_arn = "arn:${local.partition}:iam::aws:policy/AmazonSSMManagedInstanceCore"
}

resource "aws_iam_instance_profile" "nomad" {
  count       = var.nomad_clients > 0 ? 1 : 0
  name_prefix = "${var.name}-nomad-"
  role        = aws_iam_role.nomad[0].name
}

resource "aws_launch_template" "nomad" {
  count                  = var.nomad_clients > 0 ? 1 : 0
  name_prefix            = "${var.name}-nomad-"
  image_id               = local.ami
  instance_type          = var.nomad_client_instance_type
  vpc_security_group_ids = [aws_security_group.nomad[0].id]
  update_default_version = true

  iam_instance_profile {
    arn = aws_iam_instance_profile.nomad[0].arn
  }

  metadata_options {
    http_endpoint               = "enabled"
    http_tokens                 = "required"
    http_put_response_hop_limit = 1
  }

  block_device_mappings {
    device_name = "/dev/xvda"
    ebs {
      volume_type           = "gp3"
      volume_size           = var.root_volume_gb
      encrypted             = true
      kms_key_id            = var.kms_key_arn == "" ? null : var.kms_key_arn
      delete_on_termination = true
    }
  }
}

resource "aws_autoscaling_group" "nomad" {
  count               = var.nomad_clients > 0 ? 1 : 0
  name_prefix         = "${var.name}-nomad-"
  min_size            = var.nomad_clients
  max_size            = var.nomad_clients
  desired_capacity    = var.nomad_clients
  vpc_zone_identifier = [var.subnet_id]
  health_check_type   = "EC2"

  launch_template {
    id      = aws_launch_template.nomad[0].id
    version = aws_launch_template.nomad[0].latest_version
  }

  tag {
    key                 = "pier:stack"
    value               = var.name
    propagate_at_launch = true
  }
}
