package store

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/pierhq/pier/api"
)

// deployAll is the grant of a key that may push every app.
var deployAll = api.Grant{Role: api.RoleDeploy}

func TestTokenGrants(t *testing.T) {
	s := newStore(t)
	for _, app := range []string{"shop", "blog"} {
		if err := s.CreateApp(api.App{Name: app}); err != nil {
			t.Fatal(err)
		}
	}
	ci, err := s.CreateToken("ci", api.Grant{Role: api.RoleDeploy, Apps: []string{"shop", "blog", "shop"}}, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.VerifyToken(ci.Secret)
	if err != nil || got.Role != api.RoleDeploy || !reflect.DeepEqual(got.Apps, []string{"blog", "shop"}) || got.ExpiresAt != nil {
		t.Errorf("VerifyToken = %+v, %v; want deploy on blog and shop, no expiry", got, err)
	}
	for _, tt := range []struct {
		g    api.Grant
		want string
	}{
		{api.Grant{}, "a role is required"},
		{api.Grant{Role: "owner"}, "a role is required"},
		{api.Grant{Role: api.RoleAdmin, Apps: []string{"shop"}}, "cannot be limited to apps"},
		{api.Grant{Role: api.RoleRead, Apps: []string{"nope"}}, `app "nope" not found`},
	} {
		_, err := s.CreateToken("bad", tt.g, time.Time{})
		if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("CreateToken with %+v = %v, want ErrInvalid saying %q", tt.g, err, tt.want)
		}
		_, err = s.AddKey("bad", "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOv4nC8h5XgS0X4c6I2Yb6d6zq3gk8m5Xr0kB1t5Jc2a", tt.g)
		if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("AddKey with %+v = %v, want ErrInvalid saying %q", tt.g, err, tt.want)
		}
	}
	if ts, _ := s.Tokens(); len(ts) != 1 {
		t.Errorf("refused tokens were stored: %+v", ts)
	}
	if ks, _ := s.Keys(); len(ks) != 0 {
		t.Errorf("refused keys were stored: %+v", ks)
	}
}

func TestTokenExpiry(t *testing.T) {
	s := newStore(t)
	if _, err := s.CreateToken("past", adminGrant, time.Now().Add(-time.Second)); !errors.Is(err, ErrInvalid) {
		t.Errorf("a token expiring in the past = %v, want ErrInvalid", err)
	}
	at := time.Now().Add(2 * time.Second)
	tok, err := s.CreateToken("short", api.Grant{Role: api.RoleRead}, at)
	if err != nil || tok.ExpiresAt == nil || !tok.ExpiresAt.Equal(at.UTC().Truncate(time.Second)) {
		t.Fatalf("CreateToken = %+v, %v; want it to expire at %v", tok, err, at)
	}
	if _, err := s.VerifyToken(tok.Secret); err != nil {
		t.Fatalf("a token before its expiry: %v", err)
	}
	time.Sleep(time.Until(*tok.ExpiresAt) + 10*time.Millisecond)
	_, err = s.VerifyToken(tok.Secret)
	if !errors.Is(err, ErrTokenExpired) || !strings.Contains(err.Error(), "expired at "+tok.ExpiresAt.Format(time.RFC3339)) || strings.Contains(err.Error(), tok.Secret) {
		t.Errorf("an expired token: %v; want ErrTokenExpired saying when, without the secret", err)
	}
	if ts, _ := s.Tokens(); len(ts) != 1 || ts[0].ExpiresAt == nil {
		t.Errorf("Tokens = %+v; want the expired token listed with its expiry", ts)
	}
}

func TestMigrateFromV2(t *testing.T) {
	path := copyTestdata(t, "v2.db")
	s := openAt(t, path, testKey(t))
	if got := fileVersion(t, path+".v2.bak"); got != "2" {
		t.Errorf("backup has version %s, want the untouched v2 file", got)
	}
	// Every token was an admin, and stays one.
	for secret, name := range map[string]string{"v2-admin-token-secret": "admin", "v2-ci-token-secret": "ci"} {
		tok, err := s.VerifyToken(secret)
		if err != nil || tok.Name != name || tok.Role != api.RoleAdmin || len(tok.Apps) != 0 {
			t.Errorf("v2 token %s = %+v, %v; want an admin", name, tok, err)
		}
	}
	// Every key could push every app: it is a deploy key of all apps.
	ks, err := s.Keys()
	if err != nil || len(ks) != 1 || ks[0].Name != "laptop" || ks[0].Role != api.RoleDeploy || len(ks[0].Apps) != 0 {
		t.Errorf("v2 keys = %+v, %v; want laptop with the deploy role on all apps", ks, err)
	}
	// The admin secret is still a bootstrap one, and the audit log works.
	tok, err := s.ImportBootstrapToken("admin", "v2-admin-token-secret")
	if err != nil || tok.ID != "0a1b2c3d" || tok.Role != api.RoleAdmin {
		t.Errorf("ImportBootstrapToken = %+v, %v", tok, err)
	}
	if err := s.AppendAudit(api.AuditEntry{Who: "ci", Action: "POST /v1/apps"}); err != nil {
		t.Errorf("AppendAudit after the migration: %v", err)
	}
}

func TestAuditLog(t *testing.T) {
	s := newStore(t)
	s.maxAudit = 5 // a short log keeps the test fast; the rule is the same
	t0 := time.Now().UTC().Add(-time.Hour)
	for i := range 8 {
		app := "shop"
		if i%2 == 1 {
			app = "blog"
		}
		e := api.AuditEntry{Time: t0.Add(time.Duration(i) * time.Minute), Who: "ci", Action: "POST /v1/apps/{app}/restart", App: app, Status: 204}
		if err := s.AppendAudit(e); err != nil {
			t.Fatal(err)
		}
	}
	all, err := s.Audit(AuditFilter{})
	if err != nil || len(all) != 5 || !all[0].Time.Equal(t0.Add(3*time.Minute)) || !all[4].Time.Equal(t0.Add(7*time.Minute)) {
		t.Fatalf("Audit = %+v, %v; want the last 5, oldest first", all, err)
	}
	shop, _ := s.Audit(AuditFilter{App: "shop"})
	if len(shop) != 2 || shop[0].App != "shop" || shop[1].App != "shop" {
		t.Errorf("Audit of shop = %+v", shop)
	}
	recent, _ := s.Audit(AuditFilter{Since: t0.Add(5 * time.Minute)})
	if len(recent) != 2 {
		t.Errorf("Audit since the 6th = %+v, want 2 entries", recent)
	}
	last, _ := s.Audit(AuditFilter{Limit: 1})
	if len(last) != 1 || !last[0].Time.Equal(t0.Add(7*time.Minute)) {
		t.Errorf("Audit limit 1 = %+v", last)
	}
	if e := (api.AuditEntry{}); s.AppendAudit(e) != nil {
		t.Error("an entry without a time was refused")
	}
}
