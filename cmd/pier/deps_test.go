package main

import (
	"encoding/json"
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

const mod = "github.com/pierhq/pier"

// pierImports are the arrows of DESIGN.md §2 (and docs/architecture.md):
// each pier package may import only the pier packages listed for it. A
// package without a rule of its own follows its nearest parent's. Nothing
// passes for being in the same tree; "x/..." allows x's sub-packages.
var pierImports = map[string][]string{
	"cmd/pier": {"cli"},
	// cli starts the agent, and runs the hidden subcommands: the git hook
	// (agent/gitserver), built-in buildpacks and static sites (agentAPI);
	// it writes the systemd unit of ops for `pier install`, and runs
	// terraform for `pier infra` through package terraform.
	"cli":   {"api", "agent", "agent/backuptarget", "agent/gitserver", "proxy", "ops", "terraform"},
	"api":   {},
	"agent": {"api", "agent/store", "agent/backuptarget", "agent/gitserver", "scheduler", "scheduler/local", "scheduler/nomad", "buildpacks", "buildpacks/static", "proxy", "proxy/certs", "proxy/certs/dnsprovider", "procfile", "sandbox", "internal/untar", "addons", "dashboard"},
	// dashboard serves the web pages over the agent's own API handler.
	"dashboard":   {"api"},
	"agent/store": {"api"},
	// backuptarget is where backups live: a directory, an S3 or a Cloud Storage bucket.
	"agent/backuptarget": {},
	"agent/gitserver":    {"api"}, // the exit trailer of a streamed push
	"scheduler":          {"procfile", "sandbox"},
	"scheduler/local":    {"scheduler", "procfile", "sandbox", "internal/untar", "internal/proc"},
	"scheduler/nomad":    {"scheduler", "procfile", "sandbox"},
	// schedulertest runs one suite over every scheduler.
	"scheduler/schedulertest": {"scheduler", "procfile"},
	// buildpacks serves the built-ins; they share bpkit and nothing else.
	"buildpacks":                {"procfile", "sandbox", "internal/untar", "buildpacks/internal/bpkit", "buildpacks/classic", "buildpacks/golang", "buildpacks/nodejs", "buildpacks/python", "buildpacks/static"},
	"buildpacks/classic":        {"buildpacks/internal/bpkit", "procfile"},
	"buildpacks/golang":         {"buildpacks/internal/bpkit", "procfile"},
	"buildpacks/nodejs":         {"buildpacks/internal/bpkit", "procfile"},
	"buildpacks/python":         {"buildpacks/internal/bpkit", "procfile"},
	"buildpacks/static":         {"buildpacks/internal/bpkit", "procfile"},
	"buildpacks/internal/bpkit": {"procfile"},
	"buildpacks/buildpacktest":  {"buildpacks", "buildpacks/static", "procfile"},
	// The proxy imports nothing of agent; its tree keeps its internals.
	"proxy":       {"proxy/internal/..."},
	"proxy/certs": {"proxy/certs/..."},
	// dnsprovider sets DNS-01 records in a cloud's DNS; a leaf.
	"proxy/certs/dnsprovider":   {},
	"proxy/internal/benchproxy": {"proxy", "proxy/internal/..."},
	"sandbox":                   {},
	"internal/untar":            {},
	"internal/proc":             {},
	"internal/s3stub":           {}, // tests' S3 stand-in
	"internal/nomadstub":        {}, // tests' stand-in for Nomad's API
	"internal/gcsstub":          {}, // tests' Cloud Storage stand-in
	"internal/debpkg":           {}, // runs the pier binary it packages
	// addons runs the add-on servers (PostgreSQL, Redis) on this host.
	"addons":    {"sandbox", "internal/proc"},
	"procfile":  {},
	"terraform": {},
	"ops":       {}, // files for operators, and the unit's template
}

// thirdParty are the modules outside the standard library each package may
// import (by the same nearest-parent rule). bbolt is the store's alone,
// Nomad's API nomad's, and api is stdlib only.
var thirdParty = map[string][]string{
	"cmd/pier":                 {},
	"cli":                      {"github.com/urfave/cli/v2", "github.com/google/renameio/v2", "github.com/google/go-github/v74"}, // go-github: pier ci deploy reports GitHub Deployments
	"api":                      {},
	"agent/backuptarget":       {"github.com/minio/minio-go/v7", "golang.org/x/oauth2", "github.com/google/renameio/v2"},
	"internal/s3stub":          {"github.com/johannesboyne/gofakes3"},
	"internal/nomadstub":       {"github.com/hashicorp/nomad/api"},
	"internal/gcsstub":         {"github.com/fsouza/fake-gcs-server"},
	"agent":                    {"filippo.io/age", "github.com/axiomhq/hyperloglog", "github.com/getsentry/sentry-go", "github.com/robfig/cron/v3", "github.com/cloudflare/tableflip", "github.com/google/renameio/v2", "github.com/prometheus/client_golang", "github.com/prometheus/client_model", "golang.org/x/crypto", "golang.org/x/sys"},
	"agent/store":              {"go.etcd.io/bbolt", "github.com/google/renameio/v2", "golang.org/x/crypto"},
	"agent/gitserver":          {"github.com/google/renameio/v2", "golang.org/x/crypto"},
	"scheduler":                {},
	"scheduler/local":          {"github.com/google/renameio/v2", "golang.org/x/sys"},
	"scheduler/nomad":          {"github.com/hashicorp/nomad/api"},
	"buildpacks":               {"github.com/hashicorp/go-hclog", "github.com/hashicorp/go-plugin", "google.golang.org/grpc", "golang.org/x/sys"},
	"buildpacks/classic":       {},
	"buildpacks/golang":        {},
	"buildpacks/nodejs":        {},
	"buildpacks/python":        {"github.com/BurntSushi/toml"}, // poetry.lock and uv.lock
	"buildpacks/static":        {},
	"buildpacks/internal":      {},
	"buildpacks/buildpacktest": {},
	"proxy":                    {"github.com/prometheus/client_golang", "golang.org/x/net", "golang.org/x/sys", "golang.org/x/time"},
	"proxy/certs":              {"github.com/caddyserver/certmagic", "github.com/mholt/acmez/v3", "go.uber.org/zap", "github.com/miekg/dns"},
	// The clouds' own SDKs: Route 53 and Cloud DNS.
	"proxy/certs/dnsprovider": {"github.com/libdns/libdns", "github.com/aws/aws-sdk-go-v2", "github.com/minio/minio-go/v7", "golang.org/x/oauth2"}, // AWS's Signature V4 signer; minio-go's AWS credentials chain
	"sandbox":                 {"golang.org/x/sys"},
	"internal/untar":          {},
	"internal/proc":           {},
	"addons":                  {"github.com/google/renameio/v2"},
	"internal/debpkg":         {"github.com/goreleaser/nfpm/v2", "github.com/google/renameio/v2"},
	"procfile":                {},
	"terraform":               {"github.com/hashicorp/terraform-exec", "github.com/hashicorp/hc-install", "github.com/google/renameio/v2"},
	"ops":                     {},
	"dashboard":               {},
}

// agentAPI is what cli may use of package agent: starting it, and the
// entry points of the hidden subcommands the same binary runs, and the
// local backup commands (verify, restore: no agent runs on their files).
var agentAPI = []string{"Run", "Config", "DefaultMaxConns", "DefaultProcessLimit", "SSHOff", "ServeBuildpack", "StaticServe", "VerifyBackup", "RestoreBackup", "RestoreOptions", "SaveBackup", "BackupPassphrase", "PassphraseEnv", "BackupSchedule", "DefaultBackupKeep", "DefaultUIDRange", "ParseUIDRange"}

// TestImportRules keeps the package arrows of DESIGN.md §2 true, and the
// third-party modules where they belong.
func TestImportRules(t *testing.T) {
	out, err := exec.Command("go", "list", "-json", mod+"/...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	dec := json.NewDecoder(strings.NewReader(string(out)))
	for {
		var p struct {
			ImportPath string
			Imports    []string
		}
		if err := dec.Decode(&p); err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		rel := strings.TrimPrefix(strings.TrimPrefix(p.ImportPath, mod), "/")
		pier, ok := ruleFor(pierImports, rel)
		if !ok {
			t.Errorf("package %s has no import rule; add it to DESIGN.md §2 and this test", rel)
			continue
		}
		others, ok := ruleFor(thirdParty, rel)
		if !ok {
			t.Errorf("package %s has no rule for third-party modules; add it to this test", rel)
			continue
		}
		for _, imp := range p.Imports {
			switch dep, own := strings.CutPrefix(imp, mod+"/"); {
			case own && !allowed(dep, pier):
				t.Errorf("%s imports %s, which DESIGN.md §2 does not allow", rel, dep)
			case !own && !isStd(imp) && !allowed(imp, others):
				t.Errorf("%s imports %s, a module it may not use", rel, imp)
			}
		}
	}
}

// TestCLIUsesAgentOnlyToStartIt: cli reaches the agent through the api
// client; of package agent it uses only what starts it (agentAPI).
func TestCLIUsesAgentOnlyToStartIt(t *testing.T) {
	files, err := filepath.Glob("../../cli/*.go")
	if err != nil || len(files) == 0 {
		t.Fatalf("no cli sources: %v", err)
	}
	fset := token.NewFileSet()
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		file, err := parser.ParseFile(fset, f, nil, parser.SkipObjectResolution)
		if err != nil {
			t.Fatal(err)
		}
		name := ""
		for _, im := range file.Imports {
			if path, _ := strconv.Unquote(im.Path.Value); path == mod+"/agent" {
				name = "agent"
				if im.Name != nil {
					name = im.Name.Name
				}
			}
		}
		if name == "" {
			continue
		}
		ast.Inspect(file, func(n ast.Node) bool {
			sel, ok := n.(*ast.SelectorExpr)
			if !ok {
				return true
			}
			if id, ok := sel.X.(*ast.Ident); ok && id.Name == name && !slices.Contains(agentAPI, sel.Sel.Name) {
				t.Errorf("%s uses agent.%s: cli may use agent only to start it; reach the agent through the api client", fset.Position(sel.Pos()), sel.Sel.Name)
			}
			return true
		})
	}
}

// ruleFor finds the rule of a package: its own, or that of the nearest
// parent (buildpacks/internal/bpkit follows buildpacks/internal).
func ruleFor(rules map[string][]string, rel string) ([]string, bool) {
	for p := rel; p != ""; {
		if r, ok := rules[p]; ok {
			return r, true
		}
		i := strings.LastIndex(p, "/")
		if i < 0 {
			break
		}
		p = p[:i]
	}
	return nil, false
}

// allowed reports whether dep is one of rules: a package, a module (with
// its packages), or "x/..." for x's sub-packages.
func allowed(dep string, rules []string) bool {
	for _, r := range rules {
		if tree, ok := strings.CutSuffix(r, "/..."); ok {
			if strings.HasPrefix(dep, tree+"/") {
				return true
			}
			continue
		}
		if dep == r || (strings.Contains(r, ".") && strings.HasPrefix(dep, r+"/")) {
			return true
		}
	}
	return false
}

// isStd reports whether an import path is of the standard library.
func isStd(path string) bool {
	first, _, _ := strings.Cut(path, "/")
	return !strings.Contains(first, ".")
}
