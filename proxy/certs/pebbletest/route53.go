package pebbletest

import (
	"encoding/xml"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// Route53 is a stand-in for Amazon Route 53's API, which cannot be reached
// from a test: an HTTP server speaking the REST-XML of the calls pier's
// DNS-01 provider makes (ListHostedZonesByName, ListResourceRecordSets,
// ChangeResourceRecordSets, GetChange) for one public hosted zone. The
// real aws-sdk-go-v2 client talks to it through a custom endpoint. TXT
// records set in the zone are relayed to a ChallTestSrv, when given, so
// that Pebble finds them as it would find them in Route 53's DNS.
type Route53 struct {
	URL    string // the endpoint, http://127.0.0.1:port
	ZoneID string // the hosted zone's id, like Z0PIERTEST
	Zone   string // its name, fully qualified

	relay *ChallTestSrv

	mu       sync.Mutex
	txt      map[string][]string // fqdn -> quoted values, as sent
	ttl      map[string]int64
	changes  map[string]int // change id -> GetChange calls seen
	keys     []string       // access key ids that signed requests
	calls    []string       // operations, in order
	nextID   int
	failWith string // when set, ChangeResourceRecordSets answers this error code
}

const route53NS = "https://route53.amazonaws.com/doc/2013-04-01/"

// StartRoute53 serves a stand-in Route 53 with one public hosted zone
// (and a private one of the same name, which a provider must not pick);
// relay may be nil.
func StartRoute53(t testing.TB, zone string, relay *ChallTestSrv) *Route53 {
	t.Helper()
	r := &Route53{ZoneID: "Z0PIERTEST", Zone: dns.Fqdn(strings.ToLower(zone)), relay: relay,
		txt: map[string][]string{}, ttl: map[string]int64{}, changes: map[string]int{}}
	srv := httptest.NewServer(http.HandlerFunc(r.serve))
	t.Cleanup(srv.Close)
	r.URL = srv.URL
	return r
}

// TXT returns the values (unquoted) the zone holds at fqdn.
func (r *Route53) TXT(fqdn string) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return unquoted(r.txt, fqdn)
}

// AccessKeys are the access key ids that signed requests.
func (r *Route53) AccessKeys() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.keys)
}

// Calls are the operations asked for, in order.
func (r *Route53) Calls() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.calls)
}

// FailChanges makes ChangeResourceRecordSets answer with an error code
// (such as AccessDenied); "" makes it work again.
func (r *Route53) FailChanges(code string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.failWith = code
}

type r53Set struct {
	Name            string      `xml:"Name"`
	Type            string      `xml:"Type"`
	TTL             int64       `xml:"TTL"`
	ResourceRecords []r53Record `xml:"ResourceRecords>ResourceRecord"`
}

type r53Record struct {
	Value string `xml:"Value"`
}

func (s r53Set) values() []string {
	var out []string
	for _, r := range s.ResourceRecords {
		out = append(out, r.Value)
	}
	return out
}

type r53ChangeInfo struct {
	ID          string `xml:"Id"`
	Status      string `xml:"Status"`
	SubmittedAt string `xml:"SubmittedAt"`
}

func (r *Route53) serve(w http.ResponseWriter, req *http.Request) {
	auth := req.Header.Get("Authorization")
	key, ok := strings.CutPrefix(auth, "AWS4-HMAC-SHA256 Credential=")
	if !ok {
		r53Error(w, http.StatusForbidden, "MissingAuthenticationToken", "the request is not signed")
		return
	}
	key, _, _ = strings.Cut(key, "/")
	path := strings.TrimPrefix(req.URL.Path, "/2013-04-01")
	r.mu.Lock()
	defer r.mu.Unlock()
	if !slices.Contains(r.keys, key) {
		r.keys = append(r.keys, key)
	}
	zonePath := "/hostedzone/" + r.ZoneID + "/rrset"
	switch {
	case req.Method == http.MethodGet && path == "/hostedzonesbyname":
		r.calls = append(r.calls, "ListHostedZonesByName")
		r.listZones(w, req)
	case req.Method == http.MethodGet && (path == zonePath || path == zonePath+"/"):
		r.calls = append(r.calls, "ListResourceRecordSets")
		r.listSets(w, req)
	case req.Method == http.MethodPost && (path == zonePath || path == zonePath+"/"):
		r.calls = append(r.calls, "ChangeResourceRecordSets")
		r.change(w, req)
	case req.Method == http.MethodGet && strings.HasPrefix(path, "/change/"):
		r.calls = append(r.calls, "GetChange")
		r.getChange(w, strings.TrimPrefix(path, "/change/"))
	case strings.HasPrefix(path, "/hostedzone/"):
		r53Error(w, http.StatusNotFound, "NoSuchHostedZone", "No hosted zone found with ID: "+strings.Split(strings.TrimPrefix(path, "/hostedzone/"), "/")[0])
	default:
		r53Error(w, http.StatusBadRequest, "InvalidInput", "the stand-in does not answer "+req.Method+" "+req.URL.Path)
	}
}

func (r *Route53) listZones(w http.ResponseWriter, req *http.Request) {
	type zoneConfig struct {
		PrivateZone bool `xml:"PrivateZone"`
	}
	type hostedZone struct {
		ID              string     `xml:"Id"`
		Name            string     `xml:"Name"`
		CallerReference string     `xml:"CallerReference"`
		Config          zoneConfig `xml:"Config"`
	}
	var zones []hostedZone
	if dns.Fqdn(strings.ToLower(req.URL.Query().Get("dnsname"))) == r.Zone { // the real API goes on with the zones after it
		zones = []hostedZone{
			{ID: "/hostedzone/Z0PRIVATE", Name: r.Zone, CallerReference: "private", Config: zoneConfig{PrivateZone: true}},
			{ID: "/hostedzone/" + r.ZoneID, Name: r.Zone, CallerReference: "public"},
		}
	}
	writeXML(w, struct {
		XMLName     xml.Name     `xml:"ListHostedZonesByNameResponse"`
		NS          string       `xml:"xmlns,attr"`
		HostedZones []hostedZone `xml:"HostedZones>HostedZone"`
		IsTruncated bool         `xml:"IsTruncated"`
		MaxItems    string       `xml:"MaxItems"`
	}{NS: route53NS, HostedZones: zones, MaxItems: "10"})
}

func (r *Route53) listSets(w http.ResponseWriter, req *http.Request) {
	name := dns.Fqdn(strings.ToLower(req.URL.Query().Get("name")))
	var sets []r53Set
	if vs := r.txt[name]; len(vs) > 0 && req.URL.Query().Get("type") == "TXT" {
		set := r53Set{Name: name, Type: "TXT", TTL: r.ttl[name]}
		for _, v := range vs {
			set.ResourceRecords = append(set.ResourceRecords, r53Record{v})
		}
		sets = append(sets, set)
	}
	writeXML(w, struct {
		XMLName     xml.Name `xml:"ListResourceRecordSetsResponse"`
		NS          string   `xml:"xmlns,attr"`
		Sets        []r53Set `xml:"ResourceRecordSets>ResourceRecordSet"`
		IsTruncated bool     `xml:"IsTruncated"`
		MaxItems    string   `xml:"MaxItems"`
	}{NS: route53NS, Sets: sets, MaxItems: "1"})
}

func (r *Route53) change(w http.ResponseWriter, req *http.Request) {
	var body struct {
		Changes []struct {
			Action string `xml:"Action"`
			Set    r53Set `xml:"ResourceRecordSet"`
		} `xml:"ChangeBatch>Changes>Change"`
	}
	if err := xml.NewDecoder(req.Body).Decode(&body); err != nil {
		r53Error(w, http.StatusBadRequest, "InvalidInput", err.Error())
		return
	}
	if r.failWith != "" {
		r53Error(w, http.StatusForbidden, r.failWith, "the stand-in was told to refuse changes")
		return
	}
	for _, c := range body.Changes {
		name := dns.Fqdn(strings.ToLower(c.Set.Name))
		if c.Set.Type != "TXT" || !dns.IsSubDomain(r.Zone, name) {
			r53Error(w, http.StatusBadRequest, "InvalidChangeBatch", "only TXT records in "+r.Zone)
			return
		}
		switch c.Action {
		case "UPSERT", "CREATE":
			r.txt[name], r.ttl[name] = c.Set.values(), c.Set.TTL
		case "DELETE":
			if !slices.Equal(r.txt[name], c.Set.values()) || r.ttl[name] != c.Set.TTL {
				r53Error(w, http.StatusBadRequest, "InvalidChangeBatch", "Tried to delete resource record set ["+name+", type = TXT] but the values provided do not match the current values")
				return
			}
			delete(r.txt, name)
		default:
			r53Error(w, http.StatusBadRequest, "InvalidInput", "unknown action "+c.Action)
			return
		}
		if r.relay != nil {
			if err := r.relay.ReplaceTXT(name, r.txt[name]); err != nil {
				r53Error(w, http.StatusInternalServerError, "InternalFailure", err.Error())
				return
			}
		}
	}
	r.nextID++
	id := fmt.Sprintf("C%06d", r.nextID)
	r.changes[id] = 0
	r.writeChange(w, "ChangeResourceRecordSetsResponse", id, "PENDING")
}

// getChange reports a change PENDING the first time it is asked about,
// INSYNC after: a provider must wait.
func (r *Route53) getChange(w http.ResponseWriter, id string) {
	n, ok := r.changes[id]
	if !ok {
		r53Error(w, http.StatusNotFound, "NoSuchChange", "A change with the specified change ID does not exist.")
		return
	}
	r.changes[id] = n + 1
	status := "PENDING"
	if n > 0 {
		status = "INSYNC"
	}
	r.writeChange(w, "GetChangeResponse", id, status)
}

func (r *Route53) writeChange(w http.ResponseWriter, root, id, status string) {
	writeXML(w, struct {
		XMLName xml.Name
		NS      string        `xml:"xmlns,attr"`
		Info    r53ChangeInfo `xml:"ChangeInfo"`
	}{XMLName: xml.Name{Local: root}, NS: route53NS, Info: r53ChangeInfo{ID: "/change/" + id, Status: status, SubmittedAt: time.Now().UTC().Format(time.RFC3339)}})
}

func writeXML(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "text/xml")
	b, err := xml.Marshal(v)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	_, _ = w.Write(append([]byte(xml.Header), b...))
}

func r53Error(w http.ResponseWriter, code int, errCode, msg string) {
	w.Header().Set("Content-Type", "text/xml")
	w.WriteHeader(code)
	b, _ := xml.Marshal(struct {
		XMLName xml.Name `xml:"ErrorResponse"`
		NS      string   `xml:"xmlns,attr"`
		Type    string   `xml:"Error>Type"`
		Code    string   `xml:"Error>Code"`
		Message string   `xml:"Error>Message"`
	}{NS: route53NS, Type: "Sender", Code: errCode, Message: msg})
	_, _ = w.Write(b)
}
