// Package s3stub starts a local S3-compatible server for tests: no cloud
// is reachable where pier's tests run, so this stands in for AWS S3 (or
// MinIO, R2). It is gofakes3 over real HTTP on 127.0.0.1, so pier's real
// S3 client (minio-go) talks to it exactly as to a bucket on AWS. The one
// part that is not S3's own is the credential check: the stand-in refuses
// an access key id other than the one it was started with, as S3 refuses an
// unknown one, but it does not check signatures; and it decodes the
// aws-chunked body of a multipart upload's part, which gofakes3 does not.
package s3stub

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
)

// Server is a running stand-in.
type Server struct {
	URL     string // http://127.0.0.1:PORT
	KeyID   string
	Secret  string
	Backend *s3mem.Backend
	srv     *httptest.Server
}

var credential = regexp.MustCompile(`Credential=([^/]+)/`)

// Start serves an S3 stand-in with the buckets named, until the test ends.
func Start(t testing.TB, buckets ...string) *Server {
	t.Helper()
	be := s3mem.New()
	for _, b := range buckets {
		if err := be.CreateBucket(b); err != nil {
			t.Fatal(err)
		}
	}
	s := &Server{KeyID: "AKIAPIERTEST", Secret: "pier-test-secret-never-shown", Backend: be}
	fake := gofakes3.New(be, gofakes3.WithTimeSkewLimit(0)).Server()
	s.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		m := credential.FindStringSubmatch(r.Header.Get("Authorization"))
		if m == nil || m[1] != s.KeyID {
			w.Header().Set("Content-Type", "application/xml")
			w.WriteHeader(http.StatusForbidden)
			fmt.Fprint(w, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>InvalidAccessKeyId</Code><Message>The AWS Access Key Id you provided does not exist in our records.</Message></Error>`)
			return
		}
		if err := decodeChunkedPart(r); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		fake.ServeHTTP(w, r)
	}))
	t.Cleanup(s.srv.Close)
	s.URL = s.srv.URL
	return s
}

// decodeChunkedPart decodes the body of a multipart upload's part sent
// with aws-chunked encoding (STREAMING-AWS4-HMAC-SHA256-PAYLOAD), as S3
// does: gofakes3 decodes it for a whole object's PUT but not for a part's.
func decodeChunkedPart(r *http.Request) error {
	if r.Method != http.MethodPut || r.URL.Query().Get("partNumber") == "" ||
		!strings.HasPrefix(r.Header.Get("X-Amz-Content-Sha256"), "STREAMING-") {
		return nil
	}
	var out bytes.Buffer
	br := bufio.NewReader(r.Body)
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			return fmt.Errorf("reading a chunk header: %w", err)
		}
		hexSize, _, _ := strings.Cut(strings.TrimSpace(line), ";")
		n, err := strconv.ParseInt(hexSize, 16, 64)
		if err != nil {
			return fmt.Errorf("chunk size %q: %w", hexSize, err)
		}
		if n == 0 {
			break
		}
		if _, err := io.CopyN(&out, br, n); err != nil {
			return fmt.Errorf("reading a chunk: %w", err)
		}
		if _, err := br.Discard(2); err != nil { // CRLF
			return err
		}
	}
	r.Body.Close()
	r.Body = io.NopCloser(&out)
	r.ContentLength = int64(out.Len())
	r.Header.Set("Content-Length", strconv.Itoa(out.Len()))
	r.Header.Set("X-Amz-Content-Sha256", "UNSIGNED-PAYLOAD")
	r.Header.Del("X-Amz-Decoded-Content-Length")
	r.Header.Del("Content-Encoding")
	return nil
}

// Env is the environment a pier process needs to use the stand-in: its
// endpoint, path-style addressing and the credentials.
func (s *Server) Env() []string {
	return []string{
		"AWS_ENDPOINT_URL=" + s.URL, "PIER_S3_PATH_STYLE=true", "AWS_REGION=us-east-1",
		"AWS_ACCESS_KEY_ID=" + s.KeyID, "AWS_SECRET_ACCESS_KEY=" + s.Secret,
	}
}

// Getenv reads Env, for code that takes a getenv function.
func (s *Server) Getenv(name string) string {
	for _, kv := range s.Env() {
		if len(kv) > len(name) && kv[:len(name)] == name && kv[len(name)] == '=' {
			return kv[len(name)+1:]
		}
	}
	return ""
}
