package agent

import (
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/pierhq/pier/api"
)

func TestChooseVar(t *testing.T) {
	for _, c := range []struct {
		vars          map[string]string
		typ, name, as string
		want          string
		err           error
	}{
		{nil, "postgres", "shop-postgres", "", "DATABASE_URL", nil},
		{nil, "redis", "shop-redis", "", "REDIS_URL", nil},
		{map[string]string{"DATABASE_URL": "x"}, "postgres", "shop-postgres-2", "", "SHOP_POSTGRES_2_URL", nil},
		{nil, "postgres", "x", "analytics", "ANALYTICS_URL", nil},
		{nil, "postgres", "x", "ANALYTICS_URL", "ANALYTICS_URL", nil},
		{map[string]string{"ANALYTICS_URL": "x"}, "postgres", "x", "ANALYTICS", "", ErrConflict},
		{map[string]string{"DATABASE_URL": "x", "X_URL": "y"}, "postgres", "x", "", "", ErrConflict},
		{nil, "postgres", "x", "1bad", "", ErrInvalid},
		{nil, "postgres", "x", "a b", "", ErrInvalid},
	} {
		got, err := chooseVar(c.vars, c.typ, c.name, c.as)
		if got != c.want || !errors.Is(err, c.err) && !(err == nil && c.err == nil) {
			t.Errorf("chooseVar(%v, %s, %s, %q) = %q, %v; want %q, %v", c.vars, c.typ, c.name, c.as, got, err, c.want, c.err)
		}
	}
}

// TestAddonsElsewhere: where the agent runs no add-on servers (the Nomad
// scheduler), creating one says why and what to do, and changes nothing.
func TestAddonsElsewhere(t *testing.T) {
	as := &addonService{why: "with the Nomad scheduler pier does not run databases"}
	_, err := as.create(t.Context(), "shop", api.AddonCreateRequest{Type: api.AddonPostgres}, "admin", io.Discard)
	if !errors.Is(err, ErrConflict) || !strings.Contains(err.Error(), "Nomad") {
		t.Fatalf("create = %v", err)
	}
}
