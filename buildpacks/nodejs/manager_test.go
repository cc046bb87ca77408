package nodejs

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pierhq/pier/buildpacks/internal/bpkit"
)

// TestYarnPruneNeedsWorkspaceTools: yarn 2 and 3 prune only with the
// workspace-tools plugin loaded, as Heroku does; yarn 4 has it built in.
func TestYarnPruneNeedsWorkspaceTools(t *testing.T) {
	focus := "workspaces focus --all --production"
	for _, tc := range []struct {
		major  int
		yarnrc string
		want   string
	}{
		{3, "nodeLinker: node-modules\n", ""},
		{3, "nodeLinker: node-modules\nplugins:\n  - path: .yarn/plugins/@yarnpkg/plugin-workspace-tools.cjs\n    spec: \"@yarnpkg/plugin-workspace-tools\"\n", focus},
		{2, "plugins:\n  - path: .yarn/plugins/@yarnpkg/plugin-workspace-tools.cjs\n", focus},
		{4, "nodeLinker: node-modules\n", focus},
	} {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, ".yarnrc.yml"), []byte(tc.yarnrc), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "yarn.lock"), []byte("__metadata:\n  version: 6\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		m, err := chooseManager(dir, packageJSON{PackageManager: fmt.Sprintf("yarn@%d.1.0", tc.major)})
		if err != nil {
			t.Fatal(err)
		}
		if got := strings.Join(m.pruneArgs(10, version{tc.major, 1, 0}), " "); got != tc.want {
			t.Errorf("yarn %d with %q prunes with %q, want %q", tc.major, tc.yarnrc, got, tc.want)
		}
	}
}

// TestPnpmPruneIgnoresScriptsFrom8156: pnpm prune takes --ignore-scripts
// from pnpm 8.15.6 on and refuses it before.
func TestPnpmPruneIgnoresScriptsFrom8156(t *testing.T) {
	m := manager{name: "pnpm"}
	for v, want := range map[version]string{
		{8, 15, 5}: "prune --prod",
		{8, 15, 6}: "prune --prod --ignore-scripts",
		{9, 15, 0}: "prune --prod --ignore-scripts",
	} {
		if got := strings.Join(m.pruneArgs(10, v), " "); got != want {
			t.Errorf("pnpm %s prunes with %q, want %q", v, got, want)
		}
	}
}

// TestOldPnpmSkipsPruningWithInstallScripts: pnpm before 8.15.6 would run
// an app's install scripts while it prunes, so the build skips pruning,
// as Heroku does.
func TestOldPnpmSkipsPruningWithInstallScripts(t *testing.T) {
	var log strings.Builder
	b := &build{
		r:    bpkit.Request{BuildDir: t.TempDir(), Log: &log},
		cfg:  map[string]string{},
		pkg:  packageJSON{Scripts: map[string]string{"postinstall": "nuxt prepare"}},
		pm:   manager{name: "pnpm"},
		tool: version{8, 15, 5},
	}
	if err := b.prune(context.Background(), false); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(log.String(), "Pruning skipped due to presence of lifecycle scripts (postinstall): pnpm 8.15.5 would run them") {
		t.Errorf("log:\n%s", log.String())
	}
}
