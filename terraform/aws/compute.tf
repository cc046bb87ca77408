# The host: a launch template (IMDSv2 only, encrypted gp3 root) in an
# auto-scaling group of exactly one. EC2 status checks replace a failed
# instance; the replacement starts in the data volume's zone, and the boot
# script re-attaches the volume (or restores the latest backup onto an
# empty one).

resource "aws_launch_template" "pier" {
  name_prefix            = "${var.name}-"
  image_id               = local.ami
  instance_type          = var.instance_type
  vpc_security_group_ids = [aws_security_group.pier.id]
  user_data              = base64encode(local.boot)
  update_default_version = true

  iam_instance_profile {
    arn = aws_iam_instance_profile.pier.arn
  }

  metadata_options {
    http_endpoint               = "enabled"
    http_tokens                 = "required"
    http_put_response_hop_limit = 1
    instance_metadata_tags      = "enabled"
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

  monitoring {
    enabled = true
  }

  tag_specifications {
    resource_type = "instance"
    tags = merge(local.tags, {
      Name = var.name
    })
  }
}

resource "aws_autoscaling_group" "pier" {
  name_prefix               = "${var.name}-"
  min_size                  = 1
  max_size                  = 1
  desired_capacity          = 1
  vpc_zone_identifier       = [var.subnet_id]
  health_check_type         = "EC2"
  health_check_grace_period = 300

  launch_template {
    id      = aws_launch_template.pier.id
    version = aws_launch_template.pier.latest_version
  }

  # One instance owns the data volume: a replacement starts after the old
  # one is gone (the group never runs two).
  instance_maintenance_policy {
    min_healthy_percentage = 0
    max_healthy_percentage = 100
  }

  tag {
    key                 = "pier:stack"
    value               = var.name
    propagate_at_launch = true
  }
}

# An Elastic IP keeps the host's address across replacements; the boot
# script associates it (the DNS records point at it).
resource "aws_eip" "pier" {
  domain = "vpc"
  tags = {
    Name = var.name
  }
}
