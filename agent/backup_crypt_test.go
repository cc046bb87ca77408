package agent

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pierhq/pier/agent/store"
	"github.com/pierhq/pier/api"
)

const testPassphrase = "correct horse battery staple"

func init() { scryptWorkFactor = 10 } // fast tests; the format is the same

// TestBackupWithKeyIsEncrypted: --include-key puts the key in and
// encrypts the whole archive; verify and restore need the passphrase, a
// wrong one is a clear error, the right one restores a data dir that opens
// with the key it holds.
func TestBackupWithKeyIsEncrypted(t *testing.T) {
	a, key := backupAgent(t)
	if err := a.store.SetConfig("shop", map[string]string{"DB": "secret"}); err != nil {
		t.Fatal(err)
	}
	if err := checkBackupRequest(api.BackupRequest{IncludeKey: true}); err == nil || !strings.Contains(err.Error(), "passphrase") {
		t.Fatalf("a key without a passphrase: %v", err)
	}
	if err := checkBackupRequest(api.BackupRequest{Passphrase: "short"}); err == nil {
		t.Fatal("a short passphrase was taken")
	}
	file := writeTestArchive(t, a, api.BackupRequest{IncludeKey: true, Passphrase: testPassphrase})
	raw, _ := os.ReadFile(file)
	b64 := base64.StdEncoding.EncodeToString(key)
	if bytes.Contains(raw, []byte(b64)) || bytes.Contains(raw, []byte("pier.db")) || bytes.Contains(raw, []byte("manifest")) {
		t.Fatal("the archive is not encrypted")
	}

	if _, err := VerifyBackup(file, ""); err == nil || !strings.Contains(err.Error(), "encrypted") || !strings.Contains(err.Error(), PassphraseEnv) {
		t.Errorf("verify without a passphrase: %v", err)
	}
	if _, err := VerifyBackup(file, "not the passphrase at all"); err == nil || !strings.Contains(err.Error(), "passphrase does not open") {
		t.Errorf("verify with a wrong passphrase: %v", err)
	}
	m, err := VerifyBackup(file, testPassphrase)
	if err != nil {
		t.Fatal(err)
	}
	if !m.KeyIncluded || strings.Join(m.Config["shop"], ",") != "DB" {
		t.Errorf("manifest %+v", m)
	}

	dir := filepath.Join(t.TempDir(), "new")
	if _, err := RestoreBackup(file, dir, RestoreOptions{Passphrase: "not the passphrase at all"}); err == nil || !strings.Contains(err.Error(), "passphrase does not open") {
		t.Errorf("restore with a wrong passphrase: %v", err)
	}
	if ents, _ := os.ReadDir(filepath.Dir(dir)); len(ents) != 0 {
		t.Fatalf("a refused restore left %v", ents)
	}
	res, err := RestoreBackup(file, dir, RestoreOptions{Passphrase: testPassphrase})
	if err != nil {
		t.Fatal(err)
	}
	if !res.KeyRestored {
		t.Error("the key is not reported restored")
	}
	if ents, _ := os.ReadDir(filepath.Dir(dir)); len(ents) != 1 {
		t.Errorf("the restore left %v beside the data dir", ents)
	}
	got, err := store.LoadOrCreateKey(dir, "")
	if err != nil || !bytes.Equal(got, key) {
		t.Fatalf("restored key %x, %v", got, err)
	}
	st, err := store.Open(filepath.Join(dir, "pier.db"), got)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if vars, err := st.Config("shop"); err != nil || vars["DB"] != "secret" {
		t.Errorf("config after the restore: %v, %v", vars, err)
	}
}

// TestBackupEncryptedDamaged: a flipped byte in an encrypted backup is
// refused.
func TestBackupEncryptedDamaged(t *testing.T) {
	a, _ := backupAgent(t)
	file := writeTestArchive(t, a, api.BackupRequest{Passphrase: testPassphrase})
	b, _ := os.ReadFile(file)
	os.WriteFile(file, flip(b, len(b)-40), 0o600)
	if _, err := VerifyBackup(file, testPassphrase); err == nil || !strings.Contains(err.Error(), "not a good backup") {
		t.Errorf("verify of a damaged encrypted backup: %v", err)
	}
}

// TestRestoreWithoutKey: a backup without the key restored with
// --without-key names the config vars it cannot decrypt (names, never
// values), keeps everything else, and the data dir opens with a new key;
// the app records what it lost until it is set again.
func TestRestoreWithoutKey(t *testing.T) {
	a, key := backupAgent(t)
	if err := a.store.SetConfig("shop", map[string]string{"DB": "secret", "COLOR": "teal"}); err != nil {
		t.Fatal(err)
	}
	file := writeTestBackup(t, a)
	raw, _ := os.ReadFile(file)
	if bytes.Contains(raw, []byte(base64.StdEncoding.EncodeToString(key))) {
		t.Fatal("the key is in a backup made without --include-key")
	}
	dir := filepath.Join(t.TempDir(), "new")
	res, err := RestoreBackup(file, dir, RestoreOptions{WithoutKey: true})
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(res.Lost["shop"], ","); got != "COLOR,DB" {
		t.Errorf("lost %v", res.Lost)
	}
	newKey, err := store.LoadOrCreateKey(dir, "")
	if err != nil || bytes.Equal(newKey, key) {
		t.Fatalf("new key %v (same as the old: %v)", err, bytes.Equal(newKey, key))
	}
	if _, err := store.Open(filepath.Join(dir, "pier.db"), key); err == nil {
		t.Error("the old key still opens the store")
	}
	st, err := store.Open(filepath.Join(dir, "pier.db"), newKey)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	vars, err := st.Config("shop")
	if err != nil || len(vars) != 0 {
		t.Errorf("config after a restore without the key: %v, %v", vars, err)
	}
	if vars, err := st.ReleaseConfig("shop", 1); err != nil || len(vars) != 0 {
		t.Errorf("release config: %v, %v", vars, err)
	}
	app, _ := st.GetApp("shop")
	if strings.Join(app.LostConfig, ",") != "COLOR,DB" {
		t.Errorf("LostConfig %v", app.LostConfig)
	}
	if rel, err := st.GetRelease("shop", 1); err != nil || rel.SlugID != "abc" {
		t.Errorf("release %+v, %v", rel, err)
	}
	if err := st.SetAgain("shop", []string{"DB"}); err != nil {
		t.Fatal(err)
	}
	if app, _ := st.GetApp("shop"); strings.Join(app.LostConfig, ",") != "COLOR" {
		t.Errorf("LostConfig after setting DB again: %v", app.LostConfig)
	}

	// A backup that holds the key is not restored as if it were lost.
	enc := writeTestArchive(t, a, api.BackupRequest{IncludeKey: true, Passphrase: testPassphrase})
	if _, err := RestoreBackup(enc, filepath.Join(t.TempDir(), "x"), RestoreOptions{WithoutKey: true, Passphrase: testPassphrase}); err == nil {
		t.Error("--without-key on a backup with the key worked")
	}
}

// TestRestoreWithoutKeyOfAnOlderBackup: a backup whose manifest names no
// config vars (made before pier recorded them) says so instead of
// claiming nothing was lost.
func TestRestoreWithoutKeyOfAnOlderBackup(t *testing.T) {
	a, _ := backupAgent(t)
	file := writeTestBackup(t, a)
	m, err := VerifyBackup(file, "")
	if err != nil {
		t.Fatal(err)
	}
	m.Config = nil
	b, _ := json.Marshal(m)
	good, _ := os.ReadFile(file)
	older := filepath.Join(t.TempDir(), "older.tar.gz")
	os.WriteFile(older, repack(t, good, manifestName, b), 0o600)
	res, err := RestoreBackup(older, filepath.Join(t.TempDir(), "new"), RestoreOptions{WithoutKey: true})
	if err != nil {
		t.Fatal(err)
	}
	if !res.NamesUnknown || len(res.Lost) != 0 {
		t.Errorf("restore of an older backup without the key: %+v", res)
	}
}
