package terraform

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/terraform-exec/tfexec"
)

// binary finds terraform or tofu: the test skips without one, or fails
// when PIER_REQUIRE names terraform or tofu.
func binary(t *testing.T) string {
	t.Helper()
	if p, err := FindBinary(); err == nil {
		return p
	}
	for _, r := range strings.Split(os.Getenv("PIER_REQUIRE"), ",") {
		if r = strings.TrimSpace(r); r == "terraform" || r == "tofu" {
			t.Fatalf("%s is required (PIER_REQUIRE) but neither terraform nor tofu is on PATH (scripts/install-test-deps builds tofu)", r)
		}
	}
	t.Skip("neither terraform nor tofu on PATH (scripts/install-test-deps builds tofu)")
	return ""
}

// TestModulesFormatted: `terraform fmt -check` passes on every module.
func TestModulesFormatted(t *testing.T) {
	bin := binary(t)
	cmd := exec.Command(bin, "fmt", "-check", "-recursive", "-diff", ".")
	cmd.Env = append(os.Environ(), "TF_CLI_CONFIG_FILE="+os.DevNull)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("%s fmt -check: %v\n%s", filepath.Base(bin), err, out)
	}
}

// TestVariableValidationMessages plans each module's variables.tf alone
// (it needs no provider) with bad values, as a user's plan would meet
// them: each fails naming the variable, and good values pass.
func TestVariableValidationMessages(t *testing.T) {
	bin := binary(t)
	good := map[string]string{
		"aws": `region = "eu-central-1"
vpc_id = "vpc-0123456789abcdef0"
subnet_id = "subnet-0123456789abcdef0"
domain = "apps.example.com"
zone_id = "Z0123456789ABCDEFGHIJ"
acme_email = "ops@example.com"
ssh_cidrs = ["203.0.113.0/24"]
pier_url = "https://example.com/pier"
pier_sha256 = "` + strings.Repeat("ab", 32) + `"
`,
		"gcp": `project = "acme-pier-1"
region = "europe-west3"
zone = "europe-west3-a"
domain = "apps.example.com"
dns_zone = "example-com"
acme_email = "ops@example.com"
ssh_cidrs = ["203.0.113.0/24"]
pier_url = "https://example.com/pier"
pier_sha256 = "` + strings.Repeat("ab", 32) + `"
`,
	}
	bad := map[string][]struct{ set, variable, says string }{
		"aws": {
			{`zone_id = ""`, "zone_id", "a domain needs its zone"},
			{`ssh_cidrs = []`, "ssh_cidrs", "at least one valid CIDR"},
			{`ssh_cidrs = ["0.0.0.0/0"]`, "ssh_cidrs", "open to the internet"},
			{`api_cidrs = ["0.0.0.0/0"]`, "api_cidrs", "not the whole internet"},
			{`instance_type = "t3.micro"`, "instance_type", "too small"},
			{`pier_sha256 = "abc"`, "pier_sha256", "64 lower-case hex"},
			{`pier_url = "http://example.com/pier"`, "pier_url", "https://"},
			{`domain = "https://apps.example.com"`, "domain", "no scheme"},
		},
		"gcp": {
			{`dns_zone = ""`, "dns_zone", "a domain needs its zone"},
			{`ssh_cidrs = []`, "ssh_cidrs", "at least one valid CIDR"},
			{`machine_type = "e2-micro"`, "machine_type", "too small"},
			{`zone = "us-east1-b"`, "zone", "a zone of region"},
			{`api_cidrs = ["10.0.0.0/33"]`, "api_cidrs", "valid CIDRs"},
		},
	}
	for _, cloud := range Clouds {
		t.Run(cloud, func(t *testing.T) {
			dir := t.TempDir()
			src, err := os.ReadFile(filepath.Join(cloud, "variables.tf"))
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, "variables.tf"), src, 0o644); err != nil {
				t.Fatal(err)
			}
			tf, err := tfexec.NewTerraform(dir, bin)
			if err != nil {
				t.Fatal(err)
			}
			if err := tf.SetEnv(map[string]string{"TF_CLI_CONFIG_FILE": os.DevNull}); err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			if err := tf.Init(ctx); err != nil {
				t.Fatalf("init: %v", err)
			}
			plan := func(vars string) error {
				f := filepath.Join(dir, "test.tfvars")
				if err := os.WriteFile(f, []byte(vars), 0o644); err != nil {
					t.Fatal(err)
				}
				_, err := tf.Plan(ctx, tfexec.VarFile(f))
				return err
			}
			if err := plan(good[cloud]); err != nil {
				t.Fatalf("good variables refused: %v", err)
			}
			for _, c := range bad[cloud] {
				err := plan(replacing(good[cloud], c.set))
				if err == nil {
					t.Errorf("%s: accepted", c.set)
					continue
				}
				msg := strings.Join(strings.Fields(err.Error()), " ")
				if !strings.Contains(msg, c.variable+" ") || !strings.Contains(msg, c.says) {
					t.Errorf("%s: want a message naming %s and saying %q, got %s", c.set, c.variable, c.says, msg)
				}
			}
		})
	}
}

// replacing is the good variables with set in place of the line that
// assigns the same variable (a second assignment would be an error).
func replacing(good, set string) string {
	name := strings.Fields(set)[0]
	lines := []string{set}
	for _, l := range strings.Split(good, "\n") {
		if f := strings.Fields(l); len(f) == 0 || f[0] != name {
			lines = append(lines, l)
		}
	}
	return strings.Join(lines, "\n") + "\n"
}
