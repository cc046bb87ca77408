package agent

import (
	"bytes"
	"errors"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"testing"

	"github.com/pierhq/pier/agent/store"
	"github.com/pierhq/pier/api"
)

// TestOpenStoreFinishesARotation: an agent that crashed after the store
// took the new key, before the key file did, is finished by the next start;
// one that crashed before the store took it keeps the old key.
func TestOpenStoreFinishesARotation(t *testing.T) {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	for _, reachedStore := range []bool{true, false} {
		d := newDirs(t.TempDir())
		st, oldKey, _, err := openStore(d, Config{}, log)
		if err != nil {
			t.Fatal(err)
		}
		if err := st.CreateApp(api.App{Name: "shop"}); err != nil {
			t.Fatal(err)
		}
		if err := st.SetConfig("shop", map[string]string{"K": "v"}); err != nil {
			t.Fatal(err)
		}
		newKey, _ := store.NewKey()
		if err := store.WriteNextKey(d.root, newKey); err != nil {
			t.Fatal(err)
		}
		if reachedStore {
			if _, err := st.RotateKey(newKey); err != nil {
				t.Fatal(err)
			}
		}
		st.Close() // the crash

		st, key, previous, err := openStore(d, Config{}, log)
		if err != nil {
			t.Fatalf("reached the store %v: %v", reachedStore, err)
		}
		if v, err := st.Config("shop"); err != nil || v["K"] != "v" {
			t.Errorf("reached the store %v: config %v, %v", reachedStore, v, err)
		}
		st.Close()
		want, wantPrev := oldKey, []byte(nil)
		if reachedStore {
			want, wantPrev = newKey, oldKey
		}
		if !bytes.Equal(key, want) || !bytes.Equal(previous, wantPrev) {
			t.Errorf("reached the store %v: the agent took the wrong key, or previous key", reachedStore)
		}
		if _, err := os.Stat(filepath.Join(d.root, store.NextKeyFile)); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("reached the store %v: %s is still there: %v", reachedStore, store.NextKeyFile, err)
		}
		if st, k, _, err := openStore(d, Config{}, log); err != nil || !bytes.Equal(k, want) {
			t.Errorf("reached the store %v: a second start: %v", reachedStore, err)
		} else {
			st.Close()
		}
	}
}
