// Package gcsstub starts a local Cloud Storage stand-in for tests: no cloud
// is reachable where pier's tests run, so this stands in for Google Cloud
// Storage. It is fake-gcs-server over real HTTP on 127.0.0.1, reached
// through STORAGE_EMULATOR_HOST by pier's real client
// (cloud.google.com/go/storage), as Google's own emulator is. What it does
// not check is credentials: a client of an emulator signs in as no one.
package gcsstub

import (
	"io"
	"net/url"
	"testing"

	"github.com/fsouza/fake-gcs-server/fakestorage"
)

// Server is a running stand-in.
type Server struct {
	Host string // 127.0.0.1:PORT, for STORAGE_EMULATOR_HOST
	*fakestorage.Server
}

// Start serves a Cloud Storage stand-in with the buckets named, until the
// test ends.
func Start(t testing.TB, buckets ...string) *Server {
	t.Helper()
	fs, err := fakestorage.NewServerWithOptions(fakestorage.Options{Scheme: "http", Host: "127.0.0.1", Port: 0, Writer: io.Discard})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(fs.Stop)
	for _, b := range buckets {
		fs.CreateBucketWithOpts(fakestorage.CreateBucketOpts{Name: b})
	}
	u, err := url.Parse(fs.URL())
	if err != nil {
		t.Fatal(err)
	}
	return &Server{Host: u.Host, Server: fs}
}

// Getenv is an environment that points Google's client at the stand-in.
func (s *Server) Getenv(key string) string {
	if key == "STORAGE_EMULATOR_HOST" {
		return s.Host
	}
	return ""
}
