package golang_test

import (
	"archive/zip"
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pierhq/pier/buildpacks/buildpacktest"
)

// TestPrivateModuleProxy builds a module that needs a module only a
// private module proxy serves, behind basic auth, with the credentials in
// a GO_GIT_CRED__ config var as on Heroku. The go command sends netrc
// credentials over HTTPS only and looks them up by host (with its port),
// and Heroku's variable names carry no port: the proxy listens on port
// 443 of a loopback address of its own, which needs root.
func TestPrivateModuleProxy(t *testing.T) {
	buildpacktest.Require(t, "go", "version")
	if os.Geteuid() != 0 {
		t.Skip("needs root, to listen on port 443")
	}
	const host, user, token = "127.0.0.77", "pier", "s3cret-token"
	l, err := net.Listen("tcp", host+":443")
	if err != nil {
		t.Skipf("cannot listen on %s:443: %v", host, err)
	}
	cert, certPEM := selfSigned(t, host)
	srv := &http.Server{Handler: moduleProxy(t, user, token), ReadHeaderTimeout: 10 * time.Second,
		TLSConfig: &tls.Config{Certificates: []tls.Certificate{cert}}}
	go srv.ServeTLS(l, "", "")
	t.Cleanup(func() { srv.Close() })
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(caFile, certPEM, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv("SSL_CERT_FILE", caFile) // reaches the plugin, as the agent's own would
	bp := buildpacktest.Plugin(t, "go")

	src := t.TempDir()
	for name, body := range map[string]string{
		"go.mod":  "module example.com/app\n\ngo 1.22\n\nrequire example.com/private/greet v1.0.0\n",
		"main.go": "package main\n\nimport (\n\t\"fmt\"\n\n\t\"example.com/private/greet\"\n)\n\nfunc main() { fmt.Println(greet.Hello()) }\n",
	} {
		if err := os.WriteFile(filepath.Join(src, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	env := map[string]string{
		"GOPROXY":   "https://" + host,
		"GONOSUMDB": "example.com/private",
		"GOFLAGS":   "-mod=mod",
	}
	t.Run("without credentials", func(t *testing.T) {
		dir := buildpacktest.CopyDir(t, src)
		log, err := buildpacktest.BuildFails(t, bp, dir, env)
		if err == nil || !strings.Contains(log, "401 Unauthorized") || !strings.Contains(err.Error(), "through GOPROXY=https://"+host+" failed") {
			t.Errorf("err = %v, want the proxy's 401 and its name; log:\n%s", err, log)
		}
	})
	t.Run("GO_GIT_CRED__", func(t *testing.T) {
		dir := buildpacktest.CopyDir(t, src)
		withCred := map[string]string{"GO_GIT_CRED__HTTPS__127__0__0__77": user + ":" + token}
		for k, v := range env {
			withCred[k] = v
		}
		cache := t.TempDir()
		buildpacktest.ShareGoBuildCache(t, cache)
		_, log := buildpacktest.Build(t, bp, dir, cache, withCred)
		if !strings.Contains(log, "Using credentials from GO_GIT_CRED__HTTPS__127__0__0__77 for 127.0.0.77") {
			t.Errorf("the log does not say which credentials were used:\n%s", log)
		}
		if strings.Contains(log, token) {
			t.Errorf("the token reached the log:\n%s", log)
		}
		out, err := exec.Command(filepath.Join(dir, "bin", "app")).CombinedOutput()
		if err != nil || strings.TrimSpace(string(out)) != "hello from a private module" {
			t.Errorf("bin/app = %q, %v", out, err)
		}
		if b, err := exec.Command("grep", "-rl", token, dir).Output(); len(b) > 0 {
			t.Errorf("the token is in the slug: %s (%v)", b, err)
		}
	})
}

// moduleProxy serves example.com/private/greet v1.0.0 by the module proxy
// protocol to requests with the right basic auth.
func moduleProxy(t *testing.T, user, token string) http.Handler {
	const mod = "example.com/private/greet"
	var zb bytes.Buffer
	zw := zip.NewWriter(&zb)
	for name, body := range map[string]string{
		"go.mod":   "module " + mod + "\n\ngo 1.22\n",
		"greet.go": "package greet\n\nfunc Hello() string { return \"hello from a private module\" }\n",
	} {
		w, err := zw.Create(mod + "@v1.0.0/" + name)
		if err != nil {
			t.Fatal(err)
		}
		w.Write([]byte(body))
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	files := map[string][]byte{
		"/" + mod + "/@v/list":        []byte("v1.0.0\n"),
		"/" + mod + "/@v/v1.0.0.info": []byte(`{"Version":"v1.0.0","Time":"2024-01-01T00:00:00Z"}`),
		"/" + mod + "/@v/v1.0.0.mod":  []byte("module " + mod + "\n\ngo 1.22\n"),
		"/" + mod + "/@v/v1.0.0.zip":  zb.Bytes(),
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if u, p, ok := r.BasicAuth(); !ok || u != user || p != token {
			w.Header().Set("WWW-Authenticate", `Basic realm="private"`)
			http.Error(w, "who are you?", http.StatusUnauthorized)
			return
		}
		b, ok := files[r.URL.Path]
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Write(b)
	})
}

// selfSigned makes a certificate for an IP address, and its PEM.
func selfSigned(t *testing.T, ip string) (tls.Certificate, []byte) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: ip},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP(ip)}, KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, BasicConstraintsValid: true, IsCA: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}
