output "control_url" {
  description = "The API and git remote host: pier login --api <control_url>."
  value       = "https://${local.control_host}"
}

output "apps_url" {
  description = "Apps are served at https://APP.<domain>."
  value       = "https://APP.${var.domain}"
}

output "public_ip" {
  description = "The host's Elastic IP (DNS points here)."
  value       = aws_eip.pier.public_ip
}

output "autoscaling_group" {
  description = "The group of one that runs the host; its instance is replaced when it fails."
  value       = aws_autoscaling_group.pier.name
}

output "data_volume_id" {
  description = "The encrypted EBS volume holding /var/lib/pier."
  value       = aws_ebs_volume.data.id
}

output "backup_url" {
  description = "Where backups go: pier backup create --to <backup_url>."
  value       = local.backup_url
}

output "ssm_shell" {
  description = "A shell on the host without SSH."
  value       = "aws ssm start-session --region ${var.region} --target $(aws autoscaling describe-auto-scaling-groups --region ${var.region} --auto-scaling-group-names ${aws_autoscaling_group.pier.name} --query 'AutoScalingGroups[0].Instances[0].InstanceId' --output text)"
}
