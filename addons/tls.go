package addons

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"
)

// TLS: a server asked to listen beyond loopback (Spec.Listen) serves TLS
// only, with a certificate of its own. Create makes a certificate
// authority per add-on, signs the server's certificate with it (for the
// address it listens on, 127.0.0.1 and localhost) and forgets the
// authority's key: nobody can sign another certificate the add-on's
// clients would trust. The authority's certificate is what a client
// verifies the server with (CACert). A server on loopback alone keeps
// plain TCP: its traffic never leaves the host.
//
// Files:
//
//	NAME/ca.crt             0644 the agent's: the authority's certificate
//	NAME/data/server.crt    0600 the server's user
//	NAME/data/server.key    0600 the server's user

// certValidity is how long an add-on's certificates last: pier does not
// renew them, so they outlive the add-ons they are made for.
const certValidity = 20 * 365 * 24 * time.Hour

func (s Server) caPath() string   { return filepath.Join(s.Dir, "ca.crt") }
func (s Server) certPath() string { return filepath.Join(s.dataDir(), "server.crt") }
func (s Server) keyPath() string  { return filepath.Join(s.dataDir(), "server.key") }

// CACert is the PEM of the authority that signed the server's
// certificate; "" for a server without TLS.
func (s Server) CACert() string {
	if !s.TLS {
		return ""
	}
	b, err := os.ReadFile(s.caPath())
	if err != nil {
		return ""
	}
	return string(b)
}

// CheckListen refuses an address a server cannot be asked to listen on
// beyond loopback: it must be one IP address of this host's, the one its
// clients reach it on.
func CheckListen(listen string) error {
	ip := net.ParseIP(listen)
	switch {
	case ip == nil:
		return fmt.Errorf("--listen %q is not an IP address: give one of this host's addresses, the one the clients reach it on", listen)
	case ip.IsUnspecified():
		return fmt.Errorf("--listen %s would listen everywhere: give the one address of this host's the clients reach it on", listen)
	case ip.Equal(net.IPv4(127, 0, 0, 1)):
		return fmt.Errorf("--listen %s is where add-ons listen anyway: leave --listen out", listen)
	}
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return fmt.Errorf("listing this host's addresses: %w", err)
	}
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && n.IP.Equal(ip) {
			return nil
		}
	}
	return fmt.Errorf("--listen %s is not an address of this host (see `ip addr`)", listen)
}

// makeCerts writes s's authority and its certificate and key, the
// latter two its user's alone.
func makeCerts(s Server) error {
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	now := time.Now()
	ca := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{CommonName: "pier add-on " + s.Name + " CA"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(certValidity),
		KeyUsage:              x509.KeyUsageCertSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, ca, ca, &caKey.PublicKey, caKey)
	if err != nil {
		return err
	}
	ca, err = x509.ParseCertificate(caDER)
	if err != nil {
		return err
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	leaf := &x509.Certificate{
		SerialNumber: serial(),
		Subject:      pkix.Name{CommonName: s.Listen},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(certValidity),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses:  []net.IP{net.ParseIP(s.Listen), net.IPv4(127, 0, 0, 1)},
		DNSNames:     []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, leaf, ca, &key.PublicKey, caKey)
	if err != nil {
		return err
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return err
	}
	files := []struct {
		path, typ string
		der       []byte
		mode      os.FileMode
	}{
		{s.caPath(), "CERTIFICATE", caDER, 0o644},
		{s.certPath(), "CERTIFICATE", der, 0o600},
		{s.keyPath(), "EC PRIVATE KEY", keyDER, 0o600},
	}
	for _, f := range files {
		if err := os.WriteFile(f.path, pem.EncodeToMemory(&pem.Block{Type: f.typ, Bytes: f.der}), f.mode); err != nil {
			return err
		}
		if f.mode == 0o600 {
			if err := s.User.Chown(f.path); err != nil {
				return err
			}
		}
	}
	return nil
}

func serial() *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		panic(err)
	}
	return n
}

// clientTLS is how the agent's own probes verify s: with its authority.
func (s Server) clientTLS() (*tls.Config, error) {
	pool := x509.NewCertPool()
	b, err := os.ReadFile(s.caPath())
	if err != nil {
		return nil, err
	}
	if !pool.AppendCertsFromPEM(b) {
		return nil, errors.New("the add-on's ca.crt holds no certificate")
	}
	return &tls.Config{RootCAs: pool, ServerName: "127.0.0.1", MinVersion: tls.VersionTLS12}, nil
}
