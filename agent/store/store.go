// Package store keeps the agent's desired state in one bbolt file: apps,
// releases, config vars, domains, API tokens, SSH keys and events. It is the
// only package of pier that imports bbolt; one process (the agent) owns the
// file, and every method is safe for concurrent use.
//
// Schema (version 4):
//
//	meta
//	├── version                 "4"
//	└── key_check               sealed constant: proves the secret key fits the file
//	apps
//	└── <name>                  api.App (JSON)
//	releases
//	└── <app>/                  nested bucket, its sequence is the last version
//	    └── <version u64be>     api.Release (JSON)
//	release_config
//	└── <app>/
//	    └── <version u64be>     sealed JSON map: the release's config snapshot
//	config
//	└── <app>                   sealed JSON map: the app's current config vars
//	domains
//	└── <host>                  api.Domain (JSON)
//	tokens
//	└── <id>                    token record (JSON: sha256 of the secret, never the secret;
//	                            role, apps, expiry)
//	token_hashes
//	└── <sha256 of secret>      <id>
//	bootstrap
//	└── <sha256 of secret>      bootstrap record (JSON): a secret of admin.token or
//	                            PIER_ADMIN_TOKEN once taken, never taken again once revoked
//	keys
//	└── <SHA256 fingerprint>    api.Key (JSON, with its role and apps)
//	events
//	└── <app>/
//	    └── <seq u64be>         api.Event (JSON), at most MaxEvents per app
//	audit
//	└── <seq u64be>             api.AuditEntry (JSON), at most MaxAudit
//	addons
//	└── <name>                  api.Addon (JSON): its type, owner app, attachments, user id
//	addon_secrets
//	└── <name>                  sealed: the add-on's password
//	pipelines
//	└── <name>                  api.Pipeline (JSON): its apps by stage, review settings
//	pipeline_apps
//	└── <app>                   <pipeline name>: an app is in one pipeline at most
//
// "Sealed" values are AES-256-GCM ciphertexts with a random nonce per write,
// bound to their location (bucket, app, version) so they cannot be swapped.
// Times are stored as JSON, that is RFC 3339.
package store

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"
)

// SchemaVersion is the layout this code reads and writes. Open migrates older
// files and refuses newer ones.
const SchemaVersion = 4

// Bucket names.
var (
	// bucketMeta holds the schema version and the key check.
	bucketMeta = []byte("meta")
	// bucketApps maps an app name to its api.App.
	bucketApps = []byte("apps")
	// bucketReleases holds one nested bucket per app, version -> api.Release.
	bucketReleases = []byte("releases")
	// bucketReleaseConfig holds one nested bucket per app, version -> sealed vars.
	bucketReleaseConfig = []byte("release_config")
	// bucketConfig maps an app name to its sealed current config vars.
	bucketConfig = []byte("config")
	// bucketDomains maps a host to its api.Domain; a host has one owner.
	bucketDomains = []byte("domains")
	// bucketTokens maps a token id to its hashed record.
	bucketTokens = []byte("tokens")
	// bucketTokenHashes maps sha256(secret) to a token id.
	bucketTokenHashes = []byte("token_hashes")
	// bucketBootstrap maps sha256(secret) of every bootstrap secret taken
	// (the admin token's) to a bootstrapRecord.
	bucketBootstrap = []byte("bootstrap")
	// bucketKeys maps an SSH key fingerprint to its api.Key.
	bucketKeys = []byte("keys")
	// bucketEvents holds one nested bucket per app, sequence -> api.Event.
	bucketEvents = []byte("events")
	// bucketAudit maps a sequence to an api.AuditEntry.
	bucketAudit = []byte("audit")
	// bucketAddons maps an add-on name to its api.Addon.
	bucketAddons = []byte("addons")
	// bucketAddonSecrets maps an add-on name to its sealed password.
	bucketAddonSecrets = []byte("addon_secrets")
	// bucketPipelines maps a pipeline name to its api.Pipeline.
	bucketPipelines = []byte("pipelines")
	// bucketPipelineApps maps an app to the pipeline it is in.
	bucketPipelineApps = []byte("pipeline_apps")
)

// allBuckets are the top-level buckets of the current schema.
var allBuckets = [][]byte{
	bucketMeta, bucketApps, bucketReleases, bucketReleaseConfig, bucketConfig,
	bucketDomains, bucketTokens, bucketTokenHashes, bucketBootstrap, bucketKeys, bucketEvents, bucketAudit,
	bucketAddons, bucketAddonSecrets, bucketPipelines, bucketPipelineApps,
}

// Keys in the meta bucket.
var (
	metaVersion  = []byte("version")
	metaKeyCheck = []byte("key_check")
)

// lockTimeout is how long Open waits for another process to release the file.
var lockTimeout = 2 * time.Second

// Store is the agent's state in one bbolt file.
type Store struct {
	mu   sync.RWMutex // guards db, which is nil while suspended
	db   *bolt.DB
	seal *sealer
	path string

	maxEvents uint64 // events kept per app, MaxEvents
	maxAudit  uint64 // audit entries kept, MaxAudit
}

// Open opens (creating it if needed) the database at path, migrates it to
// SchemaVersion, and checks that key (32 bytes, AES-256) is the key its
// config vars were sealed with.
func Open(path string, key []byte) (*Store, error) {
	sl, err := newSealer(key)
	if err != nil {
		return nil, err
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("creating data dir %s: %w", dir, err)
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: lockTimeout})
	if errors.Is(err, bolterrors.ErrTimeout) {
		return nil, fmt.Errorf("another pier agent is using %s (%s is locked): stop it, or give this one another --data-dir", dir, path)
	}
	if err != nil {
		return nil, fmt.Errorf("opening database %s: %w", path, err)
	}
	s := &Store{db: db, seal: sl, path: path, maxEvents: MaxEvents, maxAudit: MaxAudit}
	if err := s.migrate(); err != nil {
		db.Close()
		return nil, err
	}
	if err := s.checkKey(); err != nil {
		db.Close()
		return nil, fmt.Errorf("opening %s: %w", path, err)
	}
	return s, nil
}

// ErrSuspended is returned while the store is suspended: the agent is
// handing the database file to its successor.
var ErrSuspended = errors.New("the pier agent is restarting: try again in a moment")

// Close closes the database file.
func (s *Store) Close() error {
	return s.Suspend()
}

// Suspend closes the database file, releasing its lock, so that another
// process (the agent that takes over on an upgrade) can open it. Calls made
// while suspended fail with ErrSuspended; Resume opens the file again.
func (s *Store) Suspend() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.db == nil {
		return nil
	}
	err := s.db.Close()
	s.db = nil
	return err
}

// Resume reopens the file after Suspend.
func (s *Store) Resume() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.db != nil {
		return nil
	}
	db, err := bolt.Open(s.path, 0o600, &bolt.Options{Timeout: lockTimeout})
	if err != nil {
		return fmt.Errorf("reopening %s: %w", s.path, err)
	}
	s.db = db
	return nil
}

// Ping reports whether the database file is open: nil, or ErrSuspended.
func (s *Store) Ping() error {
	return s.view(func(*bolt.Tx) error { return nil })
}

func (s *Store) view(fn func(*bolt.Tx) error) error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.db == nil {
		return ErrSuspended
	}
	return s.db.View(fn)
}

func (s *Store) update(fn func(*bolt.Tx) error) error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.db == nil {
		return ErrSuspended
	}
	return s.db.Update(fn)
}

// Path is the file the store lives in.
func (s *Store) Path() string { return s.path }

// Backup writes a consistent copy of the whole database to w while the store
// stays in use, and returns the bytes written. The copy opens with Open and
// the same key. It holds a read transaction for the whole copy, and a long
// one keeps writers from reusing pages: give it a local file, and use
// Snapshot for anything slower.
func (s *Store) Backup(w io.Writer) (int64, error) {
	var n int64
	err := s.view(func(tx *bolt.Tx) error {
		var err error
		n, err = tx.WriteTo(w)
		return err
	})
	if err != nil {
		return n, fmt.Errorf("backing up %s: %w", s.path, err)
	}
	return n, nil
}

// Snapshot writes a consistent copy of the database to path atomically
// (a temp file beside it, fsync, rename), with mode 0600: the read
// transaction lasts as long as a copy to local disk, and whatever is slow
// (compressing, a network) reads the file afterwards.
func (s *Store) Snapshot(path string) (int64, error) {
	var n int64
	err := writeFileAtomic(path, 0o600, func(w io.Writer) error {
		var err error
		n, err = s.Backup(w)
		return err
	})
	return n, err
}

// InspectFile reports the schema version of the database at path without
// migrating it, and fails when another process holds the file (a running
// agent): it takes the file's lock for as long as it reads.
func InspectFile(path string) (version int, err error) {
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: lockTimeout, ReadOnly: true})
	if errors.Is(err, bolterrors.ErrTimeout) {
		return 0, fmt.Errorf("%s is in use by a running pier agent: stop it first", path)
	}
	if err != nil {
		return 0, fmt.Errorf("opening database %s: %w", path, err)
	}
	defer db.Close()
	err = db.View(func(tx *bolt.Tx) error {
		var err error
		version, _, err = readVersion(tx)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("reading schema version of %s: %w", path, err)
	}
	return version, nil
}

// checkKey proves that the store's key opens the file's key check, writing
// the check on first use.
func (s *Store) checkKey() error {
	return s.update(func(tx *bolt.Tx) error {
		meta := tx.Bucket(bucketMeta)
		if sealed := meta.Get(metaKeyCheck); sealed != nil {
			if _, err := s.seal.open(sealed, metaKeyCheck); err != nil {
				return ErrWrongKey
			}
			return nil
		}
		sealed, err := s.seal.seal([]byte("pier"), metaKeyCheck)
		if err != nil {
			return err
		}
		return meta.Put(metaKeyCheck, sealed)
	})
}

// u64 encodes n big-endian so keys sort by number.
func u64(n uint64) []byte {
	b := make([]byte, 8)
	binary.BigEndian.PutUint64(b, n)
	return b
}

// putJSON stores v as JSON under key.
func putJSON(b *bolt.Bucket, key []byte, v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encoding %s: %w", key, err)
	}
	return b.Put(key, data)
}

// getJSON decodes the JSON under key into v; it reports false when key is absent.
func getJSON(b *bolt.Bucket, key []byte, v any) (bool, error) {
	if b == nil {
		return false, nil
	}
	data := b.Get(key)
	if data == nil {
		return false, nil
	}
	if err := json.Unmarshal(data, v); err != nil {
		return true, fmt.Errorf("decoding %s: %w", key, err)
	}
	return true, nil
}

// appExists reports whether the app is in the store.
func appExists(tx *bolt.Tx, name string) bool {
	return tx.Bucket(bucketApps).Get([]byte(name)) != nil
}

// requireApp returns ErrAppNotFound (with the name) when the app is missing.
func requireApp(tx *bolt.Tx, name string) error {
	if !appExists(tx, name) {
		return appNotFound(name)
	}
	return nil
}

// now is the store's clock, in UTC with the precision JSON keeps.
func now() time.Time { return time.Now().UTC() }
