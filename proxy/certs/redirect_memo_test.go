package certs

import (
	"context"
	"strconv"
	"testing"
	"time"
)

func TestRedirectMemo(t *testing.T) {
	var m redirectMemo
	now := time.Unix(1e9, 0)
	if _, ok, _ := m.get("a.test", now); ok {
		t.Fatal("an answer before any was put")
	}
	_, _, gen := m.get("a.test", now)
	m.put("a.test", true, gen, now)
	if r, ok, _ := m.get("a.test", now.Add(redirectMemoTTL/2)); !ok || !r {
		t.Fatalf("within the TTL: %v %v, want the answer put", r, ok)
	}
	if _, ok, _ := m.get("a.test", now.Add(redirectMemoTTL)); ok {
		t.Fatal("an answer past its TTL")
	}

	// An answer found before a clear is out of date: it is not kept.
	_, _, gen = m.get("b.test", now)
	m.clear()
	m.put("b.test", true, gen, now)
	if _, ok, _ := m.get("b.test", now); ok {
		t.Fatal("kept an answer found before a clear")
	}
	if _, ok, _ := m.get("a.test", now); ok {
		t.Fatal("an answer survived a clear")
	}

	// Any client can name a host: the memo stays bounded.
	_, _, gen = m.get("", now)
	for i := range 3 * redirectMemoMax {
		m.put(strconv.Itoa(i)+".test", false, gen, now)
	}
	if n := len(m.hosts); n > redirectMemoMax {
		t.Fatalf("%d hosts remembered, want at most %d", n, redirectMemoMax)
	}
}

// Every certificate event clears the memo, including certmagic's report of
// a certificate put in its cache, which names no identifier.
func TestCertificateEventsClearTheRedirectMemo(t *testing.T) {
	m := &Manager{hosts: map[string]*hostState{}, forgotten: map[string]bool{}}
	for _, ev := range []struct {
		name string
		data map[string]any
	}{
		{"cached_managed_cert", map[string]any{"sans": []string{"a.test"}}},
		{"cert_obtained", map[string]any{"identifier": "a.test"}},
	} {
		now := time.Now()
		_, _, gen := m.redirectMemo.get("a.test", now)
		m.redirectMemo.put("a.test", false, gen, now)
		m.onEvent(context.Background(), ev.name, ev.data)
		if _, ok, _ := m.redirectMemo.get("a.test", now); ok {
			t.Errorf("%s: the memo kept its answer", ev.name)
		}
	}
}
