package pebbletest

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/miekg/dns"
)

// CloudDNS is a stand-in for Google Cloud DNS's API, which cannot be
// reached from a test: an HTTP server speaking the JSON of the calls
// pier's DNS-01 provider makes (managedZones.list, resourceRecordSets.list,
// changes.create, changes.get) for one public managed zone of one project,
// and an OAuth token endpoint for the service account key that
// CredentialsFile names. The real google.golang.org/api client talks to
// it through a custom endpoint with those application default
// credentials. TXT records are relayed to a ChallTestSrv, when given.
type CloudDNS struct {
	URL      string // the API endpoint, http://127.0.0.1:port/
	Project  string
	ZoneName string // the managed zone's name, like pier-test
	Zone     string // its DNS name, fully qualified
	// CredentialsFile is a service account key whose token_uri is this
	// server, for GOOGLE_APPLICATION_CREDENTIALS.
	CredentialsFile string

	relay *ChallTestSrv

	mu      sync.Mutex
	txt     map[string][]string // fqdn -> quoted values
	ttl     map[string]int64
	changes map[string]int
	bearers []string
	calls   []string
	nextID  int
}

const cloudDNSToken = "ya29.pier-test-token"

// StartCloudDNS serves a stand-in Cloud DNS with the public zone zoneName
// for zone (and a private one for the same name) in project; relay may
// be nil.
func StartCloudDNS(t testing.TB, project, zoneName, zone string, relay *ChallTestSrv) *CloudDNS {
	t.Helper()
	c := &CloudDNS{Project: project, ZoneName: zoneName, Zone: dns.Fqdn(strings.ToLower(zone)), relay: relay,
		txt: map[string][]string{}, ttl: map[string]int64{}, changes: map[string]int{}}
	srv := httptest.NewServer(http.HandlerFunc(c.serve))
	t.Cleanup(srv.Close)
	c.URL = srv.URL + "/"
	c.CredentialsFile = writeServiceAccount(t, project, srv.URL+"/token")
	return c
}

// writeServiceAccount writes a service account key file with a new RSA
// key, whose tokens come from tokenURI.
func writeServiceAccount(t testing.TB, project, tokenURI string) string {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(map[string]string{
		"type":           "service_account",
		"project_id":     project,
		"private_key_id": "pier-test-key",
		"private_key":    string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})),
		"client_email":   "pier-host@" + project + ".iam.gserviceaccount.com",
		"client_id":      "1",
		"token_uri":      tokenURI,
	})
	file := filepath.Join(t.TempDir(), "service-account.json")
	if err := os.WriteFile(file, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return file
}

// TXT returns the values (unquoted) the zone holds at fqdn.
func (c *CloudDNS) TXT(fqdn string) []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return unquoted(c.txt, fqdn)
}

// Calls are the operations asked for, in order.
func (c *CloudDNS) Calls() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.calls)
}

// Authorized reports whether every DNS call carried a bearer token that
// the service account obtained (or signed itself).
func (c *CloudDNS) Authorized() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, b := range c.bearers {
		if b != cloudDNSToken && strings.Count(b, ".") != 2 { // the token, or a self-signed JWT
			return false
		}
	}
	return len(c.bearers) > 0
}

type cdnsSet struct {
	Name    string   `json:"name"`
	Type    string   `json:"type"`
	TTL     int64    `json:"ttl"`
	Rrdatas []string `json:"rrdatas"`
}

type cdnsChange struct {
	ID        string    `json:"id"`
	Status    string    `json:"status"`
	Additions []cdnsSet `json:"additions,omitempty"`
	Deletions []cdnsSet `json:"deletions,omitempty"`
}

func (c *CloudDNS) serve(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/token" {
		c.token(w, r)
		return
	}
	bearer, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok {
		cdnsError(w, http.StatusUnauthorized, "Request is missing required authentication credential.")
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.bearers = append(c.bearers, bearer)
	prefix := "/dns/v1/projects/" + c.Project + "/managedZones"
	rest, ok := strings.CutPrefix(r.URL.Path, prefix)
	if !ok {
		cdnsError(w, http.StatusForbidden, "the caller does not have permission in "+r.URL.Path)
		return
	}
	zonePath := "/" + c.ZoneName
	switch {
	case r.Method == http.MethodGet && rest == "":
		c.calls = append(c.calls, "managedZones.list")
		var zones []map[string]string
		if dns.Fqdn(strings.ToLower(r.URL.Query().Get("dnsName"))) == c.Zone {
			zones = []map[string]string{
				{"name": c.ZoneName + "-private", "dnsName": c.Zone, "visibility": "private"},
				{"name": c.ZoneName, "dnsName": c.Zone, "visibility": "public"},
			}
		}
		writeJSON(w, map[string]any{"managedZones": zones})
	case r.Method == http.MethodGet && rest == zonePath+"/rrsets":
		c.calls = append(c.calls, "resourceRecordSets.list")
		name := dns.Fqdn(strings.ToLower(r.URL.Query().Get("name")))
		sets := []cdnsSet{}
		if vs := c.txt[name]; len(vs) > 0 && r.URL.Query().Get("type") == "TXT" {
			sets = append(sets, cdnsSet{Name: name, Type: "TXT", TTL: c.ttl[name], Rrdatas: vs})
		}
		writeJSON(w, map[string]any{"rrsets": sets})
	case r.Method == http.MethodPost && rest == zonePath+"/changes":
		c.calls = append(c.calls, "changes.create")
		c.create(w, r)
	case r.Method == http.MethodGet && strings.HasPrefix(rest, zonePath+"/changes/"):
		c.calls = append(c.calls, "changes.get")
		id := strings.TrimPrefix(rest, zonePath+"/changes/")
		n, ok := c.changes[id]
		if !ok {
			cdnsError(w, http.StatusNotFound, "The 'parameters.changeId' resource named '"+id+"' does not exist.")
			return
		}
		c.changes[id] = n + 1
		status := "pending"
		if n > 0 {
			status = "done"
		}
		writeJSON(w, cdnsChange{ID: id, Status: status})
	case strings.HasPrefix(rest, "/"):
		cdnsError(w, http.StatusNotFound, "The 'parameters.managedZone' resource named '"+strings.Split(rest[1:], "/")[0]+"' does not exist.")
	default:
		cdnsError(w, http.StatusBadRequest, "the stand-in does not answer "+r.Method+" "+r.URL.Path)
	}
}

func (c *CloudDNS) create(w http.ResponseWriter, r *http.Request) {
	var ch cdnsChange
	if err := json.NewDecoder(r.Body).Decode(&ch); err != nil {
		cdnsError(w, http.StatusBadRequest, err.Error())
		return
	}
	touched := map[string]bool{}
	for _, d := range ch.Deletions {
		name := dns.Fqdn(strings.ToLower(d.Name))
		if !slices.Equal(c.txt[name], d.Rrdatas) || c.ttl[name] != d.TTL {
			cdnsError(w, http.StatusPreconditionFailed, "The resource record set 'entity.change.deletions["+name+"][TXT]' does not match the current one.")
			return
		}
	}
	for _, a := range ch.Additions {
		name := dns.Fqdn(strings.ToLower(a.Name))
		if !dns.IsSubDomain(c.Zone, name) || a.Type != "TXT" {
			cdnsError(w, http.StatusBadRequest, "only TXT records in "+c.Zone)
			return
		}
		if len(c.txt[name]) > 0 && !slices.ContainsFunc(ch.Deletions, func(d cdnsSet) bool { return dns.Fqdn(strings.ToLower(d.Name)) == name }) {
			cdnsError(w, http.StatusConflict, "The resource 'entity.change.additions["+name+"][TXT]' named '"+name+" (TXT)' already exists")
			return
		}
	}
	for _, d := range ch.Deletions {
		name := dns.Fqdn(strings.ToLower(d.Name))
		delete(c.txt, name)
		touched[name] = true
	}
	for _, a := range ch.Additions {
		name := dns.Fqdn(strings.ToLower(a.Name))
		c.txt[name], c.ttl[name] = a.Rrdatas, a.TTL
		touched[name] = true
	}
	if c.relay != nil {
		for name := range touched {
			if err := c.relay.ReplaceTXT(name, c.txt[name]); err != nil {
				cdnsError(w, http.StatusInternalServerError, err.Error())
				return
			}
		}
	}
	c.nextID++
	ch.ID, ch.Status = fmt.Sprint(c.nextID), "pending"
	c.changes[ch.ID] = 0
	writeJSON(w, ch)
}

// token answers the service account's token request (a JWT bearer grant).
func (c *CloudDNS) token(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil || r.Form.Get("grant_type") != "urn:ietf:params:oauth:grant-type:jwt-bearer" || strings.Count(r.Form.Get("assertion"), ".") != 2 {
		http.Error(w, `{"error":"invalid_grant"}`, http.StatusBadRequest)
		return
	}
	writeJSON(w, map[string]any{"access_token": cloudDNSToken, "token_type": "Bearer", "expires_in": 3600})
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

func cdnsError(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(map[string]any{"error": map[string]any{"code": code, "message": msg}})
}
