// Package terraform holds the modules that stand pier up on a cloud
// (aws/, gcp/, with the boot script both render in boot/) and the runner
// behind `pier infra`, which drives terraform or tofu through
// terraform-exec. The modules are embedded, so the pier binary carries
// the ones it was built with.
package terraform

import "embed"

// Modules holds aws/, gcp/ and boot/ as they are in the repository.
//
//go:embed aws/*.tf gcp/*.tf boot/*
var Modules embed.FS
