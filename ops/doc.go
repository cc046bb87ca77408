// Package ops holds the files an operator deploys beside pier: the
// Prometheus scrape config and alert rules (prometheus/), the Grafana
// dashboard (grafana/pier.json). It has no Go code; its tests check the
// files with promtool, and cmd/pier's tests check that every series they
// name is one a real agent exports.
package ops
