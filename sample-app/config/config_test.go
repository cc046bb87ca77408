package config

import (
	"reflect"
	"strings"
	"testing"
	"time"
)

func env(kv map[string]string) func(string) string {
	return func(k string) string { return kv[k] }
}

func TestDefaults(t *testing.T) {
	c, err := Load(env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if c.Port != "5000" || c.Model != "bayes" || c.MaxTextBytes != 20000 || c.RateLimitRPS != 5 ||
		c.QueueDir != "data-runtime/queue" || c.ShutdownTimeout != 25*time.Second || c.Heartbeat != time.Minute {
		t.Errorf("defaults: %+v", c)
	}
	if c, _ := Load(env(map[string]string{"HOME": "/srv/home"})); c.DataDir != "/srv/home/data-runtime" {
		t.Errorf("DATA_DIR with HOME=/srv/home defaults to %q, want /srv/home/data-runtime", c.DataDir)
	}
	if got := c.ReleaseLabel(); got != "local" {
		t.Errorf("ReleaseLabel with no release = %q, want local", got)
	}
}

func TestReleaseLabel(t *testing.T) {
	c, _ := Load(env(map[string]string{"PIER_RELEASE": "v7", "PIER_SLOT": "blue"}))
	if got := c.ReleaseLabel(); got != "Release v7 · slot blue" {
		t.Errorf("got %q", got)
	}
	c, _ = Load(env(map[string]string{"HEROKU_RELEASE_VERSION": "v12"}))
	if got := c.ReleaseLabel(); got != "Release v12" {
		t.Errorf("on Heroku got %q", got)
	}
}

func TestBadValues(t *testing.T) {
	cases := map[string]string{
		"MODEL":                "gpt",
		"MAX_TEXT_BYTES":       "lots",
		"RATE_LIMIT_RPS":       "-1",
		"SHUTDOWN_TIMEOUT":     "soon",
		"WORKER_POLL_INTERVAL": "0s",
	}
	for k, v := range cases {
		_, err := Load(env(map[string]string{k: v}))
		if err == nil || !strings.Contains(err.Error(), k) {
			t.Errorf("%s=%s: error %v does not name the variable", k, v, err)
		}
	}
}

func TestSecretsStayOut(t *testing.T) {
	c, _ := Load(env(map[string]string{"SECRET_KEY": "hunter2"}))
	if strings.Contains(c.String(), "hunter2") {
		t.Errorf("config string shows a secret: %s", c)
	}
	got := SecretNames([]string{"SECRET_KEY=hunter2", "GITHUB_TOKEN=x", "PORT=5000", "DB_PASSWORD=p", "STRIPE_API_KEY=k", "PIER_RELEASE=v1"})
	want := []string{"DB_PASSWORD", "GITHUB_TOKEN", "SECRET_KEY", "STRIPE_API_KEY"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("SecretNames = %v, want %v", got, want)
	}
}
