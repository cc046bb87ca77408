#!/usr/bin/env bash
# pier-boot: brings a fresh VM (or a replacement one) up as a pier host.
# The AWS and GCP modules run it from cloud-init with the same settings
# file, boot.env; a test runs it against a temporary root.
#
#  1. fetches the pier binary and refuses it unless its SHA-256 matches;
#  2. attaches the data volume (AWS: this stack's EBS volume and Elastic
#     IP; GCP: the managed group's stateful disk), formats it only when it
#     holds no file system, and mounts it;
#  3. when the volume holds no store yet, restores the newest backup from
#     the bucket (a new volume after a lost one) and puts the secret key
#     back from the secret store; a backup of a newer schema is refused by
#     `pier backup restore`, and a volume holding a newer schema is refused
#     by the agent at start: neither is ever downgraded;
#  4. writes /etc/pier/pier.env (the agent's PIER_* settings; no secret),
#     runs `pier install`, and starts the service.
#
# Settings (boot.env, or the environment):
#   PIER_BOOT_CLOUD       aws | gcp | none (none: no volume to attach; tests)
#   PIER_BOOT_URL         https:// URL (or a local path) of the binary
#   PIER_BOOT_SHA256      its SHA-256
#   PIER_BOOT_VOLUME      AWS: EBS volume id; GCP: the disk's device name
#   PIER_BOOT_EIP         AWS: Elastic IP allocation id (optional)
#   PIER_BOOT_DATA_MOUNT  where the volume is mounted (/var/lib/pier); the
#                         agent's data dir is its subdirectory data/
#   PIER_BOOT_BACKUPS     s3://bucket/prefix, gs://bucket/prefix or a
#                         directory: where the newest pier-backup-*.tar.gz is
#   PIER_BOOT_SECRET      AWS: SSM parameter name; GCP: Secret Manager
#                         secret; none: a file. The base64 secret key.
#   PIER_BOOT_ROOT        lay everything out under this directory instead of
#                         / and do not start systemd units (tests, images)
#   PIER_*                every other PIER_ setting goes to pier.env as is
#                         (with AWS_REGION, for the agent's S3 backups)
set -euo pipefail

log() { printf 'pier-boot: %s\n' "$*" >&2; }
die() { log "$*"; exit 1; }

ROOT=${PIER_BOOT_ROOT:-/}
ENV_FILE=${PIER_BOOT_ENV:-${ROOT%/}/etc/pier/boot.env}
if [ -f "$ENV_FILE" ]; then
	set -a
	# shellcheck disable=SC1090
	. "$ENV_FILE"
	set +a
fi
CLOUD=${PIER_BOOT_CLOUD:-none}
MOUNT=${PIER_BOOT_DATA_MOUNT:-/var/lib/pier}
DATA="$MOUNT/data"
under() { printf '%s%s' "${ROOT%/}" "$1"; }

[ -n "${PIER_BOOT_URL:-}" ] || die "PIER_BOOT_URL is not set: the URL of the pier binary"
[[ "${PIER_BOOT_SHA256:-}" =~ ^[0-9a-f]{64}$ ]] || die "PIER_BOOT_SHA256 must be the binary's SHA-256 (64 hex digits)"
case $CLOUD in aws | gcp | none) ;; *) die "PIER_BOOT_CLOUD must be aws, gcp or none, not $CLOUD" ;; esac

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# --- 1. the binary -----------------------------------------------------
fetch_binary() {
	case $PIER_BOOT_URL in
	https://*) curl --fail --silent --show-error --location --retry 5 --max-time 300 -o "$work/pier" "$PIER_BOOT_URL" ;;
	http://*) die "PIER_BOOT_URL must be https://, not $PIER_BOOT_URL" ;;
	*) cp "$PIER_BOOT_URL" "$work/pier" ;;
	esac
	got=$(sha256sum "$work/pier" | cut -d' ' -f1)
	[ "$got" = "$PIER_BOOT_SHA256" ] || die "the binary at $PIER_BOOT_URL has SHA-256 $got, not $PIER_BOOT_SHA256: refusing it"
	chmod 0755 "$work/pier"
	log "binary verified ($got)"
}

# --- 2. the data volume --------------------------------------------------
imds() { # AWS instance metadata, IMDSv2 (a token first; v1 is off)
	local token
	token=$(curl -sf -X PUT -H 'X-aws-ec2-metadata-token-ttl-seconds: 300' --max-time 5 http://169.254.169.254/latest/api/token)
	curl -sf -H "X-aws-ec2-metadata-token: $token" --max-time 5 "http://169.254.169.254/latest/meta-data/$1"
}

aws_attach() {
	command -v aws >/dev/null || { apt-get update -qq && apt-get install -y -qq awscli >/dev/null; }
	local id region serial dev
	id=$(imds instance-id)
	region=$(imds placement/region)
	export AWS_DEFAULT_REGION=$region
	if [ -n "${PIER_BOOT_EIP:-}" ]; then
		aws ec2 associate-address --allocation-id "$PIER_BOOT_EIP" --instance-id "$id" --allow-reassociation >/dev/null
	fi
	serial=${PIER_BOOT_VOLUME//-/}
	# The instance this one replaces may still hold the volume: retry
	# until it is released (bounded: 10 minutes).
	for _ in $(seq 60); do
		dev=$(lsblk -dno NAME,SERIAL | awk -v s="$serial" '$2 == s { print "/dev/" $1 }')
		[ -n "$dev" ] && { echo "$dev"; return; }
		aws ec2 attach-volume --volume-id "$PIER_BOOT_VOLUME" --instance-id "$id" --device /dev/sdf >/dev/null 2>&1 || true
		sleep 10
	done
	die "could not attach $PIER_BOOT_VOLUME to $id in 10 minutes"
}

data_device() {
	case $CLOUD in
	aws) aws_attach ;;
	gcp) echo "/dev/disk/by-id/google-${PIER_BOOT_VOLUME:-pier-data}" ;;
	none) echo "" ;;
	esac
}

mount_data() {
	local dev
	dev=$(data_device)
	mkdir -p "$(under "$MOUNT")"
	if [ -z "$dev" ]; then
		return
	fi
	for _ in $(seq 30); do [ -b "$dev" ] && break; sleep 2; done
	[ -b "$dev" ] || die "the data volume $dev did not appear"
	if ! blkid "$dev" >/dev/null 2>&1; then
		log "formatting the new data volume $dev"
		mkfs.ext4 -q -L pier-data "$dev"
	fi
	if ! mountpoint -q "$MOUNT"; then
		mount -o noatime "$dev" "$MOUNT"
	fi
	grep -q " $MOUNT " /etc/fstab || echo "LABEL=pier-data $MOUNT ext4 noatime,nofail 0 2" >>/etc/fstab
}

# --- 3. restore onto an empty volume ---------------------------------------
latest_backup() { # prints a local path of the newest backup, or nothing
	local src=${PIER_BOOT_BACKUPS:-} name
	case $src in
	"") return ;;
	s3://*)
		name=$(aws s3 ls "${src%/}/" | awk '$4 ~ /^pier-backup-.*\.tar\.gz$/ { print $4 }' | sort | tail -1)
		[ -n "$name" ] && aws s3 cp --only-show-errors "${src%/}/$name" "$work/$name" && echo "$work/$name"
		;;
	gs://*)
		name=$(gcloud storage ls "${src%/}/pier-backup-*.tar.gz" 2>/dev/null | sort | tail -1)
		[ -n "$name" ] && gcloud storage cp --quiet "$name" "$work/${name##*/}" && echo "$work/${name##*/}"
		;;
	*) find "$src" -maxdepth 1 -name 'pier-backup-*.tar.gz' | sort | tail -1 ;;
	esac
}

restore_if_empty() {
	local data backup
	data=$(under "$DATA")
	if [ -f "$data/pier.db" ]; then
		log "the data volume holds a store: keeping it"
		return
	fi
	backup=$(latest_backup || true)
	if [ -z "$backup" ]; then
		log "no store and no backup: starting empty"
		return
	fi
	log "the data volume is empty: restoring $(basename "$backup")"
	"$work/pier" backup restore "$backup" --data-dir "$data"
	put_secret_key "$data"
}

put_secret_key() {
	local key=$1/secret.key value=
	if [ -e "$key" ] || [ -z "${PIER_BOOT_SECRET:-}" ] || [ -n "${PIER_SECRET_KEY:-}" ]; then
		return
	fi
	case $CLOUD in
	aws) value=$(aws ssm get-parameter --with-decryption --name "$PIER_BOOT_SECRET" --query Parameter.Value --output text) ;;
	gcp) value=$(gcloud secrets versions access latest --secret "$PIER_BOOT_SECRET") ;;
	none) value=$(cat "$PIER_BOOT_SECRET") ;;
	esac
	(umask 077 && printf '%s\n' "$value" >"$key")
	log "secret key put back from $PIER_BOOT_SECRET"
}

# --- 4. settings, install, start -------------------------------------------
write_env() {
	local env
	env=$(under /etc/pier/pier.env)
	mkdir -p "$(dirname "$env")"
	(
		umask 077
		{
			echo "# Written by pier-boot from the cloud's settings; edit the module's variables instead."
			echo "PIER_DATA_DIR=$DATA"
			env | grep -E '^(PIER_[A-Z0-9_]+|AWS_REGION)=' | grep -vE '^PIER_(BOOT_[A-Z0-9_]*|SECRET_KEY|ADMIN_TOKEN|DATA_DIR)=' | sort
		} >"$env.tmp"
		mv "$env.tmp" "$env"
	)
}

# AWS: the CloudWatch agent reports the data volume's use for its alarm.
cloudwatch_agent() {
	[ "$CLOUD" = aws ] && [ "$ROOT" = / ] || return 0
	if ! [ -x /opt/aws/amazon-cloudwatch-agent/bin/amazon-cloudwatch-agent-ctl ]; then
		curl -sfL --retry 5 --max-time 300 -o "$work/cwagent.deb" https://amazoncloudwatch-agent.s3.amazonaws.com/debian/amd64/latest/amazon-cloudwatch-agent.deb
		dpkg -i -E "$work/cwagent.deb" >/dev/null
	fi
	cat >"$work/cwagent.json" <<-JSON
		{"metrics": {"namespace": "${PIER_BOOT_CW_NAMESPACE:-Pier}",
		  "append_dimensions": {"AutoScalingGroupName": "\${aws:AutoScalingGroupName}"},
		  "aggregation_dimensions": [["AutoScalingGroupName", "path"]],
		  "metrics_collected": {"disk": {"resources": ["$MOUNT"], "measurement": ["used_percent"], "drop_device": true}}}}
	JSON
	/opt/aws/amazon-cloudwatch-agent/bin/amazon-cloudwatch-agent-ctl -a fetch-config -m ec2 -s -c "file:$work/cwagent.json" >/dev/null
}

main() {
	fetch_binary
	mount_data
	restore_if_empty
	write_env
	local args=(install --data-dir "$DATA" --no-start)
	[ "$ROOT" = / ] || args+=(--root "$ROOT")
	"$work/pier" "${args[@]}"
	if [ "$ROOT" = / ]; then
		systemctl daemon-reload
		systemctl enable --now pier
		log "pier started"
	fi
	cloudwatch_agent
}

main "$@"
