# Alarms, to an SNS topic: the instance's status checks, CPU, the data
# volume's disk (from the CloudWatch agent the boot script configures) and
# pier's /readyz seen from outside (a Route53 health check).

resource "aws_sns_topic" "alarms" {
  name_prefix       = "${var.name}-alarms-"
  kms_master_key_id = "alias/aws/sns"
}

resource "aws_sns_topic_subscription" "email" {
  count     = var.alarm_email == "" ? 0 : 1
  topic_arn = aws_sns_topic.alarms.arn
  protocol  = "email"
  endpoint  = var.alarm_email
}

resource "aws_cloudwatch_metric_alarm" "status_check" {
  alarm_name          = "${var.name}-status-check"
  alarm_description   = "The pier host fails its EC2 status checks (the group replaces it)."
  namespace           = "AWS/EC2"
  metric_name         = "StatusCheckFailed"
  statistic           = "Maximum"
  period              = 60
  evaluation_periods  = 2
  comparison_operator = "GreaterThanOrEqualToThreshold"
  threshold           = 1
  treat_missing_data  = "breaching"
  dimensions = {
    AutoScalingGroupName = aws_autoscaling_group.pier.name
  }
  alarm_actions = [aws_sns_topic.alarms.arn]
  ok_actions    = [aws_sns_topic.alarms.arn]
}

resource "aws_cloudwatch_metric_alarm" "cpu" {
  alarm_name          = "${var.name}-cpu"
  alarm_description   = "The pier host's CPU has been above 85% for 15 minutes: a bigger instance_type, or Nomad clients."
  namespace           = "AWS/EC2"
  metric_name         = "CPUUtilization"
  statistic           = "Average"
  period              = 300
  evaluation_periods  = 3
  comparison_operator = "GreaterThanThreshold"
  threshold           = 85
  dimensions = {
    AutoScalingGroupName = aws_autoscaling_group.pier.name
  }
  alarm_actions = [aws_sns_topic.alarms.arn]
  ok_actions    = [aws_sns_topic.alarms.arn]
}

resource "aws_cloudwatch_metric_alarm" "data_disk" {
  alarm_name          = "${var.name}-data-disk"
  alarm_description   = "The data volume (/var/lib/pier) is over 85% full: grow data_volume_gb."
  namespace           = "Pier"
  metric_name         = "disk_used_percent"
  statistic           = "Maximum"
  period              = 300
  evaluation_periods  = 1
  comparison_operator = "GreaterThanThreshold"
  threshold           = 85
  dimensions = {
    AutoScalingGroupName = aws_autoscaling_group.pier.name
    path                 = "/var/lib/pier"
  }
  alarm_actions = [aws_sns_topic.alarms.arn]
  ok_actions    = [aws_sns_topic.alarms.arn]
}

resource "aws_route53_health_check" "readyz" {
  fqdn              = local.control_host
  type              = "HTTPS"
  port              = 443
  resource_path     = "/readyz"
  failure_threshold = 3
  request_interval  = 30
  tags = {
    Name = "${var.name}-readyz"
  }
}

# CloudWatch alarms act on topics of their own region: the /readyz alarm
# lives in us-east-1 with Route53's metrics, so it has a topic there.
resource "aws_sns_topic" "alarms_us_east_1" {
  provider          = aws.us_east_1
  name_prefix       = "${var.name}-alarms-"
  kms_master_key_id = "alias/aws/sns"
}

resource "aws_sns_topic_subscription" "email_us_east_1" {
  provider  = aws.us_east_1
  count     = var.alarm_email == "" ? 0 : 1
  topic_arn = aws_sns_topic.alarms_us_east_1.arn
  protocol  = "email"
  endpoint  = var.alarm_email
}

resource "aws_cloudwatch_metric_alarm" "readyz" {
  provider            = aws.us_east_1
  alarm_name          = "${var.name}-readyz"
  alarm_description   = "https://pier.${var.domain}/readyz does not answer 200 from Route53's checkers."
  namespace           = "AWS/Route53"
  metric_name         = "HealthCheckStatus"
  statistic           = "Minimum"
  period              = 60
  evaluation_periods  = 3
  comparison_operator = "LessThanThreshold"
  threshold           = 1
  dimensions = {
    HealthCheckId = aws_route53_health_check.readyz.id
  }
  alarm_actions = [aws_sns_topic.alarms_us_east_1.arn]
  ok_actions    = [aws_sns_topic.alarms_us_east_1.arn]
}
