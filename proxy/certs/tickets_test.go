package certs

import (
	"crypto/tls"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pierhq/pier/proxy/internal/benchcert"
)

// ticketServer serves TLS on 127.0.0.1 with tk's ticket keys: it writes
// one byte to each connection, so that the client reads its tickets.
func ticketServer(t *testing.T, tk *ticketKeys) string {
	t.Helper()
	cfg, err := benchcert.TLSConfig()
	if err != nil {
		t.Fatal(err)
	}
	cfg.WrapSession, cfg.UnwrapSession = tk.wrap, tk.unwrap
	l, err := tls.Listen("tcp", "127.0.0.1:0", cfg)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() { l.Close(); wg.Wait() })
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			c.SetDeadline(time.Now().Add(5 * time.Second))
			c.Write([]byte{1})
			io.Copy(io.Discard, c)
			c.Close()
		}
	}()
	return l.Addr().String()
}

// resumes connects with cache and reports whether the session resumed.
func resumes(t *testing.T, addr string, cache tls.ClientSessionCache, maxVersion uint16) bool {
	t.Helper()
	c, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", addr,
		&tls.Config{InsecureSkipVerify: true, ClientSessionCache: cache, MaxVersion: maxVersion, ServerName: "bench.localhost"})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Read(make([]byte, 1)); err != nil { // the ticket comes with it (TLS 1.3)
		t.Fatal(err)
	}
	return c.ConnectionState().DidResume
}

func TestTicketKeysOutliveTheProcessThatMadeThem(t *testing.T) {
	for _, v := range []struct {
		name string
		max  uint16
	}{{"TLS 1.3", 0}, {"TLS 1.2", tls.VersionTLS12}} {
		t.Run(v.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "tls-ticket-keys")
			now := time.Unix(2e9, 0)
			clock := func() time.Time { return now }
			first, err := loadTicketKeys(path, clock)
			if err != nil {
				t.Fatal(err)
			}
			if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
				t.Fatalf("the key file: %v %v, want mode 0600", fi.Mode(), err)
			}
			cache := tls.NewLRUClientSessionCache(8)
			a := ticketServer(t, first)
			if resumes(t, a, cache, v.max) {
				t.Fatal("the first connection resumed a session")
			}
			if !resumes(t, a, cache, v.max) {
				t.Fatal("the second connection to the same server did not resume")
			}
			// The agent that takes over reads the same file.
			next, err := loadTicketKeys(path, clock)
			if err != nil {
				t.Fatal(err)
			}
			if !resumes(t, ticketServer(t, next), cache, v.max) {
				t.Error("a server with the keys read from the file did not resume the session")
			}
			// Another data dir's keys do not.
			other, err := loadTicketKeys(filepath.Join(dir, "other"), clock)
			if err != nil {
				t.Fatal(err)
			}
			if resumes(t, ticketServer(t, other), tls.NewLRUClientSessionCache(8), v.max) {
				t.Error("a fresh cache resumed")
			}
			cache2 := tls.NewLRUClientSessionCache(8)
			b := ticketServer(t, next)
			resumes(t, b, cache2, v.max)
			if resumes(t, ticketServer(t, other), cache2, v.max) {
				t.Error("a server with other keys resumed the session")
			}

			// A day later a ticket makes a new key; the old still decrypts.
			now = now.Add(ticketKeyRotation + time.Minute)
			cache3 := tls.NewLRUClientSessionCache(8)
			resumes(t, b, cache3, v.max)
			if keys, _ := os.ReadFile(path); len(keys) != 2*ticketRecordLen {
				t.Errorf("after a day the file has %d bytes, want 2 keys", len(keys))
			}
			if !resumes(t, a, cache3, v.max) {
				t.Error("a ticket of the new key did not resume on the server that read the file before the rotation")
			}
			// A week on, the first key is gone.
			now = now.Add(ticketKeyLifetime)
			resumes(t, b, tls.NewLRUClientSessionCache(8), v.max)
			if keys, _ := os.ReadFile(path); len(keys) != ticketRecordLen {
				t.Errorf("a week later the file has %d bytes, want 1 key", len(keys))
			}
		})
	}
}

func TestTicketKeysRefuseABrokenFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tls-ticket-keys")
	os.WriteFile(path, []byte("not keys"), 0o600)
	_, err := loadTicketKeys(path, time.Now)
	if err == nil || !strings.Contains(err.Error(), "delete the file") {
		t.Errorf("a broken key file: %v", err)
	}
}
