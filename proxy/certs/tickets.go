package certs

import (
	"crypto/rand"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"sync"
	"time"

	"github.com/google/renameio/v2"
)

// TLS session tickets let a returning client resume its session without a
// full handshake (no signature, no key exchange: several times cheaper for
// both sides). Go's server issues them by default, but with keys of its
// own process: after an agent's upgrade (SIGHUP) or a restart every client
// would need a full handshake again. The keys here are kept in a file of
// the data dir (mode 0600, written atomically), so the agent that takes
// over decrypts the tickets its predecessor issued. Like Go's own, a new
// key is made every day and tickets are accepted for a week.

const (
	ticketKeyRotation = 24 * time.Hour
	ticketKeyLifetime = 7 * 24 * time.Hour
	ticketKeyLen      = 32
	ticketRecordLen   = 8 + ticketKeyLen // Unix seconds of its creation, then the key
)

// ticketKey is one session ticket key and when it was made.
type ticketKey struct {
	created time.Time
	key     [ticketKeyLen]byte
}

// ticketKeys encrypts and decrypts session tickets with the keys of its
// file, newest first, rotating them when a ticket is issued after the
// newest is a day old (no goroutine: rotation is due at most once a day).
type ticketKeys struct {
	path string
	now  func() time.Time

	mu      sync.Mutex
	keys    []ticketKey
	cfg     *tls.Config // holds the keys for EncryptTicket and DecryptTicket
	modTime time.Time   // the file's when it was last read or written
}

// loadTicketKeys reads path, making it with a first key when it does not
// exist.
func loadTicketKeys(path string, now func() time.Time) (*ticketKeys, error) {
	tk := &ticketKeys{path: path, now: now, cfg: &tls.Config{}}
	tk.mu.Lock()
	defer tk.mu.Unlock()
	if err := tk.reload(); err != nil {
		return nil, err
	}
	if err := tk.rotateIfDue(); err != nil {
		return nil, err
	}
	return tk, nil
}

// wrap and unwrap are tls.Config's WrapSession and UnwrapSession: they go
// through a clone of the config, so the keys can change under it.
func (tk *ticketKeys) wrap(cs tls.ConnectionState, ss *tls.SessionState) ([]byte, error) {
	tk.mu.Lock()
	if tk.keys[0].created.Add(ticketKeyRotation).Before(tk.now()) {
		if err := tk.rotateIfDue(); err != nil {
			tk.mu.Unlock()
			return nil, err
		}
	}
	cfg := tk.cfg
	tk.mu.Unlock()
	return cfg.EncryptTicket(cs, ss)
}

// unwrap reads the file again when no key decrypts a ticket and the file
// changed since it was read: another agent (the one handing over, or the
// one taking over) may have made a new key.
func (tk *ticketKeys) unwrap(identity []byte, cs tls.ConnectionState) (*tls.SessionState, error) {
	tk.mu.Lock()
	cfg := tk.cfg
	tk.mu.Unlock()
	ss, err := cfg.DecryptTicket(identity, cs)
	if ss != nil || err != nil {
		return ss, err
	}
	tk.mu.Lock()
	if fi, serr := os.Stat(tk.path); serr == nil && !fi.ModTime().Equal(tk.modTime) {
		if rerr := tk.reload(); rerr != nil {
			tk.mu.Unlock()
			return nil, rerr
		}
	}
	cfg = tk.cfg
	tk.mu.Unlock()
	return cfg.DecryptTicket(identity, cs)
}

// reload reads the file; a missing file is no keys. tk.mu is held.
func (tk *ticketKeys) reload() error {
	fi, err := os.Stat(tk.path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	var b []byte
	if err == nil {
		b, err = os.ReadFile(tk.path)
	}
	if err != nil {
		return fmt.Errorf("reading the session ticket keys: %w", err)
	}
	tk.modTime = fi.ModTime()
	keys, err := parseTicketKeys(b)
	if err != nil {
		return fmt.Errorf("reading the session ticket keys %s: %w; delete the file to start over (clients then make full handshakes once)", tk.path, err)
	}
	tk.setKeys(keys)
	return nil
}

// rotateIfDue adds a key when the newest is a day old, drops those past a
// week and writes the file. It reads the file first: another agent (the one
// handing over) may have rotated. tk.mu is held.
func (tk *ticketKeys) rotateIfDue() error {
	if err := tk.reload(); err != nil {
		return err
	}
	now := tk.now()
	if len(tk.keys) > 0 && !tk.keys[0].created.Add(ticketKeyRotation).Before(now) {
		return nil
	}
	k := ticketKey{created: now}
	if _, err := rand.Read(k.key[:]); err != nil {
		return err
	}
	keys := []ticketKey{k}
	for _, old := range tk.keys {
		if old.created.Add(ticketKeyLifetime).After(now) {
			keys = append(keys, old)
		}
	}
	if err := renameio.WriteFile(tk.path, formatTicketKeys(keys), 0o600); err != nil {
		return fmt.Errorf("writing the session ticket keys: %w", err)
	}
	if fi, err := os.Stat(tk.path); err == nil {
		tk.modTime = fi.ModTime()
	}
	tk.setKeys(keys)
	return nil
}

func (tk *ticketKeys) setKeys(keys []ticketKey) {
	tk.keys = keys
	raw := make([][32]byte, len(keys))
	for i, k := range keys {
		raw[i] = k.key
	}
	cfg := &tls.Config{}
	cfg.SetSessionTicketKeys(raw)
	tk.cfg = cfg
}

// The file is records of 40 bytes, newest first: the creation time in Unix
// seconds (big-endian) and the key.
func formatTicketKeys(keys []ticketKey) []byte {
	b := make([]byte, 0, len(keys)*ticketRecordLen)
	for _, k := range keys {
		b = binary.BigEndian.AppendUint64(b, uint64(k.created.Unix()))
		b = append(b, k.key[:]...)
	}
	return b
}

func parseTicketKeys(b []byte) ([]ticketKey, error) {
	if len(b) == 0 || len(b)%ticketRecordLen != 0 {
		return nil, fmt.Errorf("%d bytes, not a whole number of %d-byte keys", len(b), ticketRecordLen)
	}
	keys := make([]ticketKey, len(b)/ticketRecordLen)
	for i := range keys {
		r := b[i*ticketRecordLen:]
		keys[i].created = time.Unix(int64(binary.BigEndian.Uint64(r)), 0)
		copy(keys[i].key[:], r[8:ticketRecordLen])
	}
	return keys, nil
}
