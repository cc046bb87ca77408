# pier's /readyz seen from outside: an uptime check on the control host and
# an alert policy on it (the group's auto-healing acts on its own check).

resource "google_monitoring_uptime_check_config" "readyz" {
  display_name = "${var.name} /readyz"
  timeout      = "10s"
  period       = "60s"
  http_check {
    path         = "/readyz"
    port         = 443
    use_ssl      = true
    validate_ssl = true
  }
  monitored_resource {
    type = "uptime_url"
    labels = {
      project_id = var.project
      host       = local.control_host
    }
  }
}

resource "google_monitoring_notification_channel" "email" {
  count        = var.alarm_email == "" ? 0 : 1
  display_name = "${var.name} alarms"
  type         = "email"
  labels = {
    email_address = var.alarm_email
  }
}

resource "google_monitoring_alert_policy" "readyz" {
  display_name          = "${var.name}: /readyz failing"
  combiner              = "OR"
  notification_channels = google_monitoring_notification_channel.email[*].id
  conditions {
    display_name = "https://${local.control_host}/readyz fails from two regions"
    condition_threshold {
      filter          = "metric.type=\"monitoring.googleapis.com/uptime_check/check_passed\" AND resource.type=\"uptime_url\" AND metric.label.check_id=\"${google_monitoring_uptime_check_config.readyz.uptime_check_id}\""
      duration        = "180s"
      comparison      = "COMPARISON_GT"
      threshold_value = 1
      aggregations {
        alignment_period     = "60s"
        per_series_aligner   = "ALIGN_NEXT_OLDER"
        cross_series_reducer = "REDUCE_COUNT_FALSE"
        group_by_fields      = ["resource.label.host"]
      }
    }
  }
}
