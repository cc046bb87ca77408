package nomad

import (
	"errors"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestSlugURL(t *testing.T) {
	key := []byte("0123456789abcdef0123456789abcdef")
	u := SignSlugURL("http://10.0.0.5:7070/", "shop-v3", key, time.Minute)
	if !strings.HasPrefix(u, "http://10.0.0.5:7070/slugs/shop-v3.tar.gz?expires=") || !strings.Contains(u, "&sig=") {
		t.Fatalf("signed URL %s", u)
	}
	id, err := VerifySlugURL(httptest.NewRequest("GET", u, nil), key)
	if err != nil || id != "shop-v3" {
		t.Fatalf("VerifySlugURL = %q, %v", id, err)
	}
	bad := map[string]string{
		"other key":    u,
		"other slug":   strings.Replace(u, "shop-v3", "shop-v4", 1),
		"later expiry": strings.Replace(u, "expires=", "expires=9", 1),
		"no sig":       u[:strings.Index(u, "&sig=")],
		"path escape":  strings.Replace(u, "shop-v3", "..%2Fetc", 1),
	}
	for name, raw := range bad {
		k := key
		if name == "other key" {
			k = []byte("another key")
		}
		if id, err := VerifySlugURL(httptest.NewRequest("GET", raw, nil), k); err == nil {
			t.Errorf("%s: accepted as %q", name, id)
		}
	}
	if _, err := VerifySlugURL(httptest.NewRequest("GET", strings.Replace(u, "shop-v3", "shop-v4", 1), nil), key); !errors.Is(err, ErrSlugURLSignature) {
		t.Errorf("tampered: %v, want ErrSlugURLSignature", err)
	}
	old := SignSlugURL("http://a", "s", key, -time.Second)
	if _, err := VerifySlugURL(httptest.NewRequest("GET", old, nil), key); !errors.Is(err, ErrSlugURLExpired) {
		t.Errorf("expired URL: %v, want ErrSlugURLExpired", err)
	}
	if _, err := VerifySlugURL(httptest.NewRequest("POST", u, nil), key); err == nil {
		t.Errorf("a POST was accepted")
	}
}
