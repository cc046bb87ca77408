package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// terraformBinary finds terraform or tofu: the test skips without one, or
// fails when PIER_REQUIRE names terraform or tofu.
func terraformBinary(t *testing.T) string {
	t.Helper()
	for _, n := range []string{"terraform", "tofu"} {
		if p, err := exec.LookPath(n); err == nil {
			return p
		}
	}
	for _, r := range strings.Split(os.Getenv("PIER_REQUIRE"), ",") {
		if r = strings.TrimSpace(r); r == "terraform" || r == "tofu" {
			t.Fatalf("%s is required (PIER_REQUIRE) but neither terraform nor tofu is on PATH (scripts/install-test-deps builds tofu)", r)
		}
	}
	t.Skip("neither terraform nor tofu on PATH (scripts/install-test-deps builds tofu)")
	return ""
}

// infraRun runs `pier infra ...` in-process with a bounded context.
func infraRun(t *testing.T, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var o, e bytes.Buffer
	err = run(ctx, append([]string{"pier", "infra"}, args...), &o, &e)
	return o.String(), e.String(), err
}

// TestInfraLifecycle runs a module that needs no provider (terraform_data)
// through `pier infra` and terraform-exec with the real terraform or tofu:
// init, plan, apply with its outputs, output, a destroy refused without
// --confirm (nothing destroyed), and destroy.
func TestInfraLifecycle(t *testing.T) {
	terraformBinary(t)
	t.Setenv("TF_CLI_CONFIG_FILE", os.DevNull) // no user plugin cache or mirrors
	mod := t.TempDir()
	src, err := os.ReadFile("../terraform/testdata/fixture/main.tf")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(mod, "main.tf"), src, 0o644); err != nil {
		t.Fatal(err)
	}
	vars := filepath.Join(t.TempDir(), "fixture.tfvars")
	if err := os.WriteFile(vars, []byte("name = \"harbour\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	ws := []string{"--module", mod, "--var-file", vars}
	step := func(args ...string) (string, string) {
		t.Helper()
		out, errOut, err := infraRun(t, args...)
		if err != nil {
			t.Fatalf("pier infra %s: %v\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), err, out, errOut)
		}
		return out, errOut
	}

	if _, e := step(append([]string{"init"}, ws...)...); !strings.Contains(e, "initialized") {
		t.Errorf("init did not stream terraform's output:\n%s", e)
	}
	if _, e := step(append([]string{"plan"}, ws...)...); !strings.Contains(e, "terraform_data.host will be created") || !strings.Contains(e, "pier infra apply") {
		t.Errorf("plan did not show the resource to create and the next step:\n%s", e)
	}
	out, e := step(append([]string{"apply"}, ws...)...)
	if !strings.Contains(e, "Apply complete! Resources: 1 added") {
		t.Errorf("apply did not stream its progress:\n%s", e)
	}
	if !strings.Contains(out, "control_url   https://pier.harbour.example") || !strings.Contains(out, "public_ip     192.0.2.10") {
		t.Errorf("apply did not print the outputs as a table:\n%s", out)
	}
	if _, err := os.Stat(filepath.Join(mod, "terraform.tfstate")); err != nil {
		t.Errorf("no state after apply: %v", err)
	}

	out, e = step(append([]string{"output", "--json"}, ws...)...)
	if strings.Contains(e, "sensitive") {
		t.Errorf("output echoed terraform's JSON to stderr:\n%s", e)
	}
	var outs []struct {
		Name  string
		Value json.RawMessage
	}
	if err := json.Unmarshal([]byte(out), &outs); err != nil || len(outs) != 2 || outs[0].Name != "control_url" || string(outs[0].Value) != `"https://pier.harbour.example"` {
		t.Errorf("output --json: %v\n%s", err, out)
	}

	_, _, err = infraRun(t, append([]string{"destroy"}, ws...)...)
	if err == nil || !strings.Contains(err.Error(), "confirm with `pier infra destroy --module "+mod) {
		t.Errorf("destroy without --confirm: want a refusal saying how to confirm, got %v", err)
	}
	_, _, err = infraRun(t, append([]string{"destroy", "--confirm", "aws"}, ws...)...)
	if err == nil || !strings.Contains(err.Error(), "nothing was destroyed") {
		t.Errorf("destroy with the wrong --confirm: got %v", err)
	}
	if out, _ := step(append([]string{"output"}, ws...)...); !strings.Contains(out, "harbour") {
		t.Errorf("a refused destroy changed the state:\n%s", out)
	}

	if _, e := step(append([]string{"destroy", "--confirm", mod}, ws...)...); !strings.Contains(e, "Destroy complete! Resources: 1 destroyed") {
		t.Errorf("destroy did not stream its result:\n%s", e)
	}
	if out, _ := step(append([]string{"output"}, ws...)...); strings.Contains(out, "harbour") {
		t.Errorf("outputs remain after destroy:\n%s", out)
	}
}

// TestInfraWritesBuiltInModule: without --module, the built-in module and
// the boot files it renders are written into --dir, and runs happen there.
func TestInfraWritesBuiltInModule(t *testing.T) {
	terraformBinary(t)
	t.Setenv("TF_CLI_CONFIG_FILE", os.DevNull)
	dir := t.TempDir()
	// Providers cannot be downloaded here, so plan fails at init; what is
	// checked is where the files went and that terraform ran there.
	_, _, err := infraRun(t, "plan", "--cloud", "gcp", "--dir", dir)
	if err == nil || !strings.Contains(err.Error(), "terraform plan in "+filepath.Join(dir, "gcp")) {
		t.Errorf("plan of an uninitialized module: want terraform's error from %s/gcp, got %v", dir, err)
	}
	for _, f := range []string{"gcp/compute.tf", "gcp/variables.tf", "boot/pier-boot.sh", "boot/cloud-init.yaml.tftpl"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Errorf("%s not written: %v", f, err)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "aws")); err == nil {
		t.Error("the aws module was written for --cloud gcp")
	}
}

// TestInfraBadInput: no terraform or tofu on PATH says how to get one; an
// unknown cloud, a missing var file and arguments are refused, each before
// anything runs.
func TestInfraBadInput(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("PATH", t.TempDir())
	_, _, err := infraRun(t, "init", "--cloud", "aws", "--dir", dir)
	if err == nil || !strings.Contains(err.Error(), "neither terraform nor tofu is on PATH") || !strings.Contains(err.Error(), "install OpenTofu") {
		t.Errorf("no binary: got %v", err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("a refused run wrote %d entries into --dir", len(entries))
	}
	// A binary that is there but not needed by the checks below.
	fake := filepath.Join(os.Getenv("PATH"), "terraform")
	if err := os.WriteFile(fake, []byte("#!/bin/sh\nexit 1\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"plan", "--cloud", "azure", "--dir", dir}, `--cloud must be one of [aws gcp], not "azure"`},
		{[]string{"plan", "--dir", dir}, "give --cloud aws|gcp"},
		{[]string{"plan", "--cloud", "aws", "--dir", dir, "--var-file", filepath.Join(dir, "missing.tfvars")}, "--var-file: "},
		{[]string{"plan", "--cloud", "aws", "extra"}, "takes flags only"},
		{[]string{"plan", "--module", dir}, "holds no .tf file"},
	} {
		_, _, err := infraRun(t, c.args...)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("pier infra %s: want an error with %q, got %v", strings.Join(c.args, " "), c.want, err)
		}
	}
}
