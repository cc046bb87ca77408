package backuptarget

import (
	"bytes"
	"context"
	"crypto/sha256"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pierhq/pier/internal/gcsstub"
	"github.com/pierhq/pier/internal/s3stub"
)

// eachTarget runs the same suite over a directory and over a bucket of a
// local S3 stand-in (internal/s3stub: no cloud is reachable in tests),
// through the client a user's AWS bucket gets, and over a bucket of a local
// Cloud Storage stand-in (internal/gcsstub) through Google's client.
func eachTarget(t *testing.T, fn func(t *testing.T, tg Target)) {
	t.Run("dir", func(t *testing.T) {
		tg, err := Open(t.Context(), filepath.Join(t.TempDir(), "backups"), Options{})
		if err != nil {
			t.Fatal(err)
		}
		fn(t, tg)
	})
	t.Run("s3", func(t *testing.T) {
		s := s3stub.Start(t, "pier-backups")
		tg, err := Open(t.Context(), "s3://pier-backups/vm1/daily", Options{Getenv: s.Getenv, TempDir: t.TempDir()})
		if err != nil {
			t.Fatal(err)
		}
		fn(t, tg)
	})
	t.Run("gcs", func(t *testing.T) {
		s := gcsstub.Start(t, "pier-backups")
		tg, err := Open(t.Context(), "gs://pier-backups/vm1/daily", Options{Getenv: s.Getenv, TempDir: t.TempDir()})
		if err != nil {
			t.Fatal(err)
		}
		fn(t, tg)
	})
}

func put(t *testing.T, tg Target, name, body string) {
	t.Helper()
	p, err := tg.Create(t.Context(), name)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Cleanup()
	if _, err := io.WriteString(p, body); err != nil {
		t.Fatal(err)
	}
	if err := p.Commit(t.Context()); err != nil {
		t.Fatal(err)
	}
}

func names(t *testing.T, tg Target) []string {
	t.Helper()
	list, err := tg.List(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, b := range list {
		out = append(out, b.Name)
	}
	return out
}

// TestTargetShowsOnlyWholeBackups: a backup appears only on Commit; one
// dropped midway leaves nothing List shows; List shows pier's names only,
// newest first; Open reads back what was written.
func TestTargetShowsOnlyWholeBackups(t *testing.T) {
	eachTarget(t, func(t *testing.T, tg Target) {
		t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
		put(t, tg, Name(t0, false), "one")
		put(t, tg, Name(t0.Add(time.Hour), true), "two")
		put(t, tg, "notes.txt", "not a backup")

		p, err := tg.Create(t.Context(), Name(t0.Add(2*time.Hour), false))
		if err != nil {
			t.Fatal(err)
		}
		io.WriteString(p, "half")
		if _, err := os.Stat(p.Path()); err != nil {
			t.Fatalf("the pending backup has no local file: %v", err)
		}
		if got := names(t, tg); len(got) != 2 {
			t.Fatalf("a backup being written is listed: %v", got)
		}
		p.Cleanup() // a failure midway
		want := []string{Name(t0.Add(time.Hour), true), Name(t0, false)}
		if got := names(t, tg); strings.Join(got, ",") != strings.Join(want, ",") {
			t.Fatalf("List = %v, want %v", got, want)
		}
		list, _ := tg.List(t.Context())
		if !list[0].Encrypted || list[1].Encrypted || list[1].Size != 3 || !list[1].Time.Equal(t0) {
			t.Errorf("List = %+v", list)
		}
		r, err := tg.Open(t.Context(), Name(t0, false))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(r)
		r.Close()
		if string(b) != "one" {
			t.Errorf("Open read %q", b)
		}
		if _, err := tg.Open(t.Context(), Name(t0.Add(9*time.Hour), false)); err == nil {
			t.Error("Open of a missing backup worked")
		}
	})
}

// TestPruneKeepsTheNewest: retention deletes the oldest of pier's backups
// beyond N and nothing else.
func TestPruneKeepsTheNewest(t *testing.T) {
	eachTarget(t, func(t *testing.T, tg Target) {
		t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
		for i := range 5 {
			put(t, tg, Name(t0.Add(time.Duration(i)*time.Hour), i%2 == 0), "x")
		}
		put(t, tg, "pier-backup-keep-me.txt", "someone else's")
		deleted, err := Prune(t.Context(), tg, 2)
		if err != nil {
			t.Fatal(err)
		}
		if len(deleted) != 3 {
			t.Errorf("deleted %v", deleted)
		}
		want := []string{Name(t0.Add(4*time.Hour), true), Name(t0.Add(3*time.Hour), false)}
		if got := names(t, tg); strings.Join(got, ",") != strings.Join(want, ",") {
			t.Errorf("after Prune(2): %v, want %v", got, want)
		}
		if r, err := tg.Open(t.Context(), "pier-backup-keep-me.txt"); err != nil {
			t.Errorf("Prune deleted a file that is not pier's backup: %v", err)
		} else {
			r.Close()
		}
		if _, err := Prune(t.Context(), tg, 0); err == nil {
			t.Error("Prune(0) worked")
		}
	})
}

// TestFetch downloads a backup from a bucket into a local file.
func TestFetch(t *testing.T) {
	s := s3stub.Start(t, "bkt")
	o := Options{Getenv: s.Getenv, TempDir: t.TempDir()}
	tg, err := Open(t.Context(), "s3://bkt", o)
	if err != nil {
		t.Fatal(err)
	}
	name := Name(time.Now(), false)
	put(t, tg, name, "whole")
	file, done, err := Fetch(t.Context(), "s3://bkt/"+name, o)
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(file); string(b) != "whole" {
		t.Errorf("fetched %q", b)
	}
	done()
	if _, err := os.Stat(file); err == nil {
		t.Error("done left the download")
	}
}

// TestS3BadInput: an unreachable endpoint, refused credentials and a
// missing bucket each give an error that says which, in bounded time, and
// never shows the secret.
func TestS3BadInput(t *testing.T) {
	s := s3stub.Start(t, "bkt")
	env := func(over ...string) func(string) string {
		return func(k string) string {
			for i := 0; i < len(over); i += 2 {
				if over[i] == k {
					return over[i+1]
				}
			}
			return s.Getenv(k)
		}
	}
	dead := "http://127.0.0.1:1" // nothing listens on port 1
	for _, c := range []struct {
		name, loc string
		getenv    func(string) string
		want      []string
	}{
		{"unreachable", "s3://bkt", env("AWS_ENDPOINT_URL", dead), []string{"cannot reach the S3 endpoint 127.0.0.1:1"}},
		{"refused credentials", "s3://bkt", env("AWS_ACCESS_KEY_ID", "AKIAWRONG", "AWS_SECRET_ACCESS_KEY", "wrong-secret-value"), []string{"refused the credentials", "AWS_ACCESS_KEY_ID"}},
		{"no bucket", "s3://nope/x", env(), []string{`bucket "nope" does not exist`}},
		{"credentials in the URL", "s3://AKIA:topsecret@bkt/x", env(), []string{"credentials do not go in the URL"}},
		{"bad endpoint", "s3://bkt", env("AWS_ENDPOINT_URL", "not a url"), []string{"is not a URL"}},
		{"other scheme", "ftp://b/x", env(), []string{"not to ftp://"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
			defer cancel()
			start := time.Now()
			_, err := Open(ctx, c.loc, Options{Getenv: c.getenv, Timeout: 10 * time.Second})
			if err == nil {
				t.Fatal("Open worked")
			}
			if took := time.Since(start); took > 15*time.Second {
				t.Errorf("took %v", took)
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
			for _, secret := range []string{s.Secret, "wrong-secret-value", "topsecret"} {
				if strings.Contains(err.Error(), secret) {
					t.Errorf("error shows a secret: %q", err)
				}
			}
		})
	}
}

// TestS3URLParameters: the endpoint, path-style addressing and the region
// may come from the URL instead of the environment.
func TestS3URLParameters(t *testing.T) {
	s := s3stub.Start(t, "bkt")
	creds := func(k string) string {
		switch k {
		case "AWS_ACCESS_KEY_ID":
			return s.KeyID
		case "AWS_SECRET_ACCESS_KEY":
			return s.Secret
		}
		return ""
	}
	tg, err := Open(t.Context(), "s3://bkt/p?endpoint="+s.URL+"&path-style=true&region=eu-west-1", Options{Getenv: creds, TempDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	put(t, tg, Name(time.Now(), false), "x")
	list, err := tg.List(t.Context())
	if err != nil || len(list) != 1 || !strings.HasPrefix(list[0].Location, "s3://bkt/p/pier-backup-") {
		t.Fatalf("List = %+v, %v", list, err)
	}
	if tg.String() != "s3://bkt/p" {
		t.Errorf("String() = %q", tg.String())
	}
	if _, err := Open(t.Context(), "s3://bkt/p?endpoint="+s.URL+"&path-style=maybe", Options{Getenv: creds}); err == nil || !strings.Contains(err.Error(), "true or false") {
		t.Errorf("path-style=maybe: %v", err)
	}
}

// TestS3SilentEndpoint: an endpoint that takes the connection and never
// answers is given up on within the timeout, naming the host.
func TestS3SilentEndpoint(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			defer c.Close() // held open, never answered
		}
	}()
	getenv := func(k string) string {
		return map[string]string{"AWS_ENDPOINT_URL": "http://" + ln.Addr().String(), "AWS_ACCESS_KEY_ID": "AKIA", "AWS_SECRET_ACCESS_KEY": "s", "AWS_REGION": "us-east-1"}[k]
	}
	start := time.Now()
	_, err = Open(t.Context(), "s3://bkt", Options{Getenv: getenv, Timeout: 2 * time.Second})
	if err == nil || !strings.Contains(err.Error(), "cannot reach the S3 endpoint "+ln.Addr().String()) {
		t.Errorf("a silent endpoint: %v", err)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("gave up after %v, with a 2s timeout", took)
	}
}

func TestParseName(t *testing.T) {
	for _, c := range []struct {
		name     string
		ok, enc  bool
		unixTime int64
	}{
		{"pier-backup-20260102T030405.000Z.tar.gz", true, false, 1767323045},
		{"pier-backup-20260102T030405Z.tar.gz", true, false, 1767323045},
		{"pier-backup-20260102T030405.250Z.tar.gz.age", true, true, 1767323045},
		{".pier-backup-20260102T030405Z.tar.gz123", false, false, 0},
		{"pier-backup-20260102T030405Z.tar", false, false, 0},
		{"pier-backup-x.tar.gz", false, false, 0},
	} {
		tm, enc, ok := ParseName(c.name)
		if ok != c.ok || enc != c.enc || (ok && tm.Unix() != c.unixTime) {
			t.Errorf("ParseName(%q) = %v %v %v", c.name, tm, enc, ok)
		}
	}
}

// TestS3LargeBackup: a backup over the part size goes up in a multipart
// upload, which shows the object only once it completes, and reads back
// whole.
func TestS3LargeBackup(t *testing.T) {
	if testing.Short() {
		t.Skip("uploads 40 MiB")
	}
	s := s3stub.Start(t, "bkt")
	tg, err := Open(t.Context(), "s3://bkt/big", Options{Getenv: s.Getenv, TempDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	chunk := bytes.Repeat([]byte("0123456789abcdef"), 1<<16) // 1 MiB
	sum := sha256.New()
	create := func(name string) Pending {
		p, err := tg.Create(t.Context(), name)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(p.Cleanup)
		for range 40 {
			p.Write(chunk)
		}
		return p
	}
	for range 40 {
		sum.Write(chunk)
	}

	// An upload cut short shows nothing.
	cut := create(Name(time.Now().Add(-time.Hour), false))
	ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
	defer cancel()
	if err := cut.Commit(ctx); err == nil {
		t.Fatal("an upload cut short after 300ms succeeded")
	}
	name := Name(time.Now(), false)
	p := create(name)
	if got := names(t, tg); len(got) != 0 {
		t.Fatalf("listed before the upload completed: %v", got)
	}
	if err := p.Commit(t.Context()); err != nil {
		t.Fatal(err)
	}
	r, err := tg.Open(t.Context(), name)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	back := sha256.New()
	n, err := io.Copy(back, r)
	if err != nil || n != 40<<20 || !bytes.Equal(back.Sum(nil), sum.Sum(nil)) {
		t.Errorf("read back %d bytes (%v), same: %v", n, err, bytes.Equal(back.Sum(nil), sum.Sum(nil)))
	}
}

// TestGCSBadInput: a missing bucket, an unreachable endpoint, a missing key
// file and parameters in the URL each fail at Open with what to do.
func TestGCSBadInput(t *testing.T) {
	s := gcsstub.Start(t, "bkt")
	// Cloud Storage's answer to a service account without a role on the bucket.
	refusing := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusForbidden)
		io.WriteString(w, `{"error":{"code":403,"message":"pier-host@acme.iam.gserviceaccount.com does not have storage.objects.list access to the Google Cloud Storage bucket."}}`)
	}))
	defer refusing.Close()
	env := func(kv ...string) func(string) string {
		return func(k string) string {
			for i := 0; i+1 < len(kv); i += 2 {
				if kv[i] == k {
					return kv[i+1]
				}
			}
			return ""
		}
	}
	for _, c := range []struct {
		name, loc string
		getenv    func(string) string
		want      string
	}{
		{"no bucket", "gs://nope/x", s.Getenv, `bucket "nope" does not exist`},
		{"unreachable", "gs://bkt", env("STORAGE_EMULATOR_HOST", "127.0.0.1:1"), "cannot reach Cloud Storage"},
		{"no key file", "gs://bkt", env("GOOGLE_APPLICATION_CREDENTIALS", filepath.Join(t.TempDir(), "missing.json")), "GOOGLE_APPLICATION_CREDENTIALS"},
		{"parameters", "gs://bkt/x?endpoint=http://127.0.0.1:1", s.Getenv, "write gs://bucket/prefix alone"},
		{"refused", "gs://bkt", env("STORAGE_EMULATOR_HOST", refusing.Listener.Addr().String()), "give the service account roles/storage.objectAdmin"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := Open(t.Context(), c.loc, Options{Getenv: c.getenv, Timeout: 3 * time.Second})
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("Open(%s) = %v, want an error saying %q", c.loc, err, c.want)
			}
			t.Log(err)
		})
	}
}
