package cli

import (
	"fmt"
	"os"
	"strings"
)

// ghOutput is one output of a GitHub Actions step.
type ghOutput struct{ name, value string }

// writeGitHubOutputs appends outs to the file $GITHUB_OUTPUT names, where
// a step's outputs go; outside Actions it does nothing. A value is one
// line: line breaks become spaces.
func writeGitHubOutputs(outs []ghOutput) error {
	path := os.Getenv("GITHUB_OUTPUT")
	if path == "" {
		return nil
	}
	// #nosec G304 G302 G703 -- the runner names the file, and made it.
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY|os.O_CREATE, 0o644)
	if err != nil {
		return fmt.Errorf("writing the step's outputs: %w", err)
	}
	var b strings.Builder
	for _, o := range outs {
		fmt.Fprintf(&b, "%s=%s\n", o.name, strings.Join(strings.Fields(o.value), " "))
	}
	if _, err := f.WriteString(b.String()); err != nil {
		_ = f.Close()
		return fmt.Errorf("writing the step's outputs: %w", err)
	}
	return f.Close()
}
