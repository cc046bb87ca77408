package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pierhq/pier/internal/gcsstub"
)

// TestBackupsToCloudStorage: scheduled backups go to gs:// (a local Cloud
// Storage stand-in, internal/gcsstub: no cloud is reachable in tests; the
// agent uses Google's own client through STORAGE_EMULATOR_HOST), keep the
// newest --backup-keep, and one of them restores into a new data dir
// whose agent has the app and its config.
func TestBackupsToCloudStorage(t *testing.T) {
	needE2E(t)
	gcs := gcsstub.Start(t, "pier-backups")
	const to = "gs://pier-backups/vm1"
	emulator := "STORAGE_EMULATOR_HOST=" + gcs.Host
	a := startAgent(t, agentOpts{extra: []string{emulator, "PIER_BACKUP_SCHEDULE=2s", "PIER_BACKUP_TO=" + to, "PIER_BACKUP_KEEP=2"}})
	a.mustPier("apps", "create", "shop")
	a.mustPier("config", "set", "-a", "shop", "COLOR=teal")
	n := a.metric(`pier_backups_total{result="succeeded"}`)
	waitFor(t, 60*time.Second, "three scheduled backups after the config change", func() bool {
		return a.metric(`pier_backups_total{result="succeeded"}`) >= n+3
	})
	if f := a.metric(`pier_backups_total{result="failed"}`); f != 0 {
		t.Errorf("%v scheduled backups failed:\n%s", f, a.logs())
	}

	t.Setenv("STORAGE_EMULATOR_HOST", gcs.Host)
	var list []struct{ Location string }
	a.pierJSON(&list, "backup", "list", "--to", to)
	if len(list) != 2 || !strings.HasPrefix(list[0].Location, to+"/pier-backup-") {
		t.Fatalf("pier backup list --to %s: %+v, want the 2 kept", to, list)
	}
	if out := a.mustPier("backup", "verify", list[0].Location); !strings.Contains(out, "is good") {
		t.Errorf("pier backup verify %s: %s", list[0].Location, out)
	}
	if res := a.pier("backup", "create", "--to", "gs://no-such-bucket/x"); res.code == 0 || !strings.Contains(res.stderr, `bucket "no-such-bucket" does not exist`) {
		t.Errorf("create into a missing bucket: exit %d\n%s", res.code, res.stderr)
	}

	a.stop()
	dir := filepath.Join(reachableTempDir(t), "pier-data")
	if res := a.pier("backup", "restore", list[0].Location, "--data-dir", dir); res.code != 0 {
		t.Fatalf("pier backup restore %s: exit %d\n%s%s", list[0].Location, res.code, res.stdout, res.stderr)
	}
	// The backup holds no secret key: put it back, as docs/operations.md says.
	key, err := os.ReadFile(filepath.Join(a.dataDir, "secret.key"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "secret.key"), key, 0o600); err != nil {
		t.Fatal(err)
	}
	b := startAgent(t, agentOpts{dataDir: dir})
	b.token = a.token
	if out := b.mustPier("config", "-a", "shop"); !strings.Contains(out, "teal") {
		t.Errorf("the restored agent's config of shop:\n%s", out)
	}
}
