package agent

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"
	"path/filepath"

	"github.com/pierhq/pier/agent/store"
	"github.com/pierhq/pier/api"
)

// A key rotation (pier secrets rotate-key) moves every sealed value to a new
// key without a moment where a crash loses either key:
//
//  1. the new key is written to secret.key.next;
//  2. the store re-seals every value under it, in one transaction;
//  3. the local scheduler's state is sealed with it;
//  4. secret.key.next replaces secret.key, in one rename.
//
// An agent that starts and finds secret.key.next finishes or forgets the
// rotation: if the store opens with the new key only, it promotes it (and
// opens the scheduler's state with either key); if the store opens with the
// old one, step 2 never happened and the new key goes.

// openStore loads the secret key, finishes or forgets a rotation a crash
// interrupted, and opens the store. previous is the key before a rotation
// finished at this start (nil otherwise).
func openStore(d dirs, cfg Config, log *slog.Logger) (st *store.Store, key, previous []byte, err error) {
	key, err = store.LoadOrCreateKey(d.root, cfg.SecretKey)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("loading the secret key: %w", err)
	}
	path := filepath.Join(d.root, "pier.db")
	next, nerr := store.ReadNextKey(d.root)
	if cfg.SecretKey != "" || errors.Is(nerr, fs.ErrNotExist) {
		st, err = store.Open(path, key)
		return st, key, nil, err
	}
	if nerr != nil {
		return nil, nil, nil, fmt.Errorf("reading the key of a rotation under way: %w", nerr)
	}
	st, err = store.Open(path, key)
	if err == nil {
		log.Warn("a key rotation stopped before it re-encrypted anything; the key stays as it was")
		return st, key, nil, store.DiscardNextKey(d.root)
	}
	if !errors.Is(err, store.ErrWrongKey) {
		return nil, nil, nil, err
	}
	if st, err = store.Open(path, next); err != nil {
		return nil, nil, nil, err
	}
	if err := store.PromoteNextKey(d.root); err != nil {
		st.Close()
		return nil, nil, nil, fmt.Errorf("finishing the key rotation an earlier agent began: %w", err)
	}
	log.Info("finished the key rotation an earlier agent began")
	return st, next, key, nil
}

// rotateKey re-encrypts every config value under a new key.
func (a *Agent) rotateKey() (api.KeyRotation, error) {
	if a.cfg.SecretKey != "" {
		return api.KeyRotation{}, invalidf("the secret key comes from PIER_SECRET_KEY, which pier cannot rewrite: keep it, or move it to %s and unset PIER_SECRET_KEY first", filepath.Join(a.dirs.root, store.KeyFile))
	}
	a.keyMu.Lock()
	defer a.keyMu.Unlock()
	key, err := store.NewKey()
	if err != nil {
		return api.KeyRotation{}, err
	}
	if err := store.WriteNextKey(a.dirs.root, key); err != nil {
		return api.KeyRotation{}, fmt.Errorf("writing the new key: %w", err)
	}
	n, err := a.store.RotateKey(key)
	if err != nil {
		_ = store.DiscardNextKey(a.dirs.root)
		return api.KeyRotation{}, err
	}
	a.prevKey, a.key = a.key, key
	if rk, ok := a.sched.(*swapScheduler).get().(interface{ Rekey([]byte) error }); ok {
		if err := rk.Rekey(key); err != nil {
			return api.KeyRotation{}, fmt.Errorf("the config is re-encrypted, but the scheduler's state is not (%w): restart the agent to finish the rotation", err)
		}
	}
	if err := store.PromoteNextKey(a.dirs.root); err != nil {
		return api.KeyRotation{}, fmt.Errorf("the config is re-encrypted, but %s could not replace the old key (%w): restart the agent to finish the rotation", store.NextKeyFile, err)
	}
	a.prevKey = nil
	a.logf("rotated the secret key: re-encrypted %d values", n)
	return api.KeyRotation{Resealed: n}, nil
}

func (a *Agent) rotateKeyHandler(w http.ResponseWriter, r *http.Request) error {
	res, err := a.rotateKey()
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, res)
	return nil
}
