// Package ops holds the files an operator deploys beside pier: the
// Prometheus scrape config and alert rules (prometheus/), the Grafana
// dashboard (grafana/pier.json) and the systemd unit (systemd/pier.service,
// which `pier install` and the Debian package write through Unit), and
// what compose.yaml mounts (compose/). Its tests check the files with
// promtool and systemd-analyze, validate compose.yaml and build the
// images of the Dockerfiles; cmd/pier's tests check that every series they
// name is one a real agent exports.
package ops
