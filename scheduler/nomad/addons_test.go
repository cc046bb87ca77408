package nomad

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/pierhq/pier/internal/nomadstub"
)

// TestAddonOnNomadStandIn: creating an add-on registers its job (pinned
// to its node, its host volume mounted, its service in Nomad's catalog,
// its resources) with the password in the job's Variable and nowhere in
// the job; the URL is the catalog's address. One whose task fails to
// start is removed, job and Variable; destroy deregisters and deletes
// the Variable.
func TestAddonOnNomadStandIn(t *testing.T) {
	// Nomad cannot run here: a stand-in for its API (internal/nomadstub),
	// driven by the real nomad/api client.
	n := nomadstub.Start(t)
	s, err := New(Options{Address: n.URL})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	const pw = "0123456789abcdef0123456789abcdef"
	a := AddonJob{Name: "shop-postgres", Type: "postgres", Version: "15", Node: "db-1", Volume: "pier-shop-postgres", MemoryMB: 512, CPU: 700}
	url, err := s.CreateAddon(ctx, a, pw)
	if err != nil {
		t.Fatal(err)
	}
	if want := "postgres://shop_postgres:" + pw + "@10.0.0.7:23456/shop_postgres"; url != want {
		t.Errorf("URL = %s, want %s", url, want)
	}
	job := n.Job("pier-addon-shop-postgres")
	vars := n.Variable("nomad/jobs/pier-addon-shop-postgres")
	if job == nil {
		t.Fatal("no job registered")
	}
	if c := job.Constraints; len(c) != 1 || c[0].LTarget != "${node.unique.name}" || c[0].RTarget != "db-1" {
		t.Errorf("constraints %+v", c)
	}
	tg := job.TaskGroups[0]
	if v := tg.Volumes["data"]; v == nil || v.Type != "host" || v.Source != "pier-shop-postgres" {
		t.Errorf("volume %+v", v)
	}
	if sv := tg.Services; len(sv) != 1 || sv[0].Name != "pier-addon-shop-postgres" || sv[0].Provider != "nomad" {
		t.Errorf("services %+v", sv)
	}
	task := tg.Tasks[0]
	if r := task.Resources; *r.MemoryMB != 512 || *r.CPU != 700 {
		t.Errorf("resources %d MB %d MHz", *r.MemoryMB, *r.CPU)
	}
	if *task.VolumeMounts[0].Volume != "data" || *task.VolumeMounts[0].Destination != "/var/lib/postgresql/data" {
		t.Errorf("mount %+v", task.VolumeMounts[0])
	}
	b, _ := json.Marshal(job)
	if strings.Contains(string(b), pw) {
		t.Error("the password is in the registered job")
	}
	if vars["PASSWORD"] != pw || len(vars) != 1 {
		t.Errorf("the job's Variable holds %v", vars)
	}

	// A task that cannot start: the error says why, nothing is left.
	bad := AddonJob{Name: "broken-db", Type: "postgres", Version: "15", Node: "broken", Volume: "v"}
	if _, err := s.CreateAddon(ctx, bad, pw); err == nil || !strings.Contains(err.Error(), "no such image") || !strings.Contains(err.Error(), "it was removed") {
		t.Errorf("an add-on that cannot start: %v", err)
	}
	if j, v := n.Job("pier-addon-broken-db"), n.Variable("nomad/jobs/pier-addon-broken-db"); j != nil || v != nil {
		t.Errorf("after a failed create: job %v, Variable %v", j != nil, v)
	}

	if err := s.DestroyAddon(ctx, "shop-postgres"); err != nil {
		t.Fatal(err)
	}
	if jobs, vars := n.Counts(); jobs != 0 || vars != 0 {
		t.Errorf("after destroy: %d jobs, %d variables", jobs, vars)
	}
	if log := strings.Join(n.Requests(), "\n"); !strings.Contains(log, "DELETE /v1/job/pier-addon-shop-postgres") {
		t.Errorf("destroy did not deregister the job:\n%s", log)
	}

	if got := addonURLAt(AddonJob{Name: "cache", Type: "redis"}, pw, "10.0.0.8:1234"); got != "redis://default:"+pw+"@10.0.0.8:1234" {
		t.Errorf("redis URL %s", got)
	}
}

// TestAddonOnDevAgent runs a Redis add-on on a real `nomad agent -dev`
// (skipped without a nomad binary, and without a healthy docker driver on
// its node, which the official image needs): the job starts on the node
// with the host volume, the catalog gives its address, the URL reaches a
// server that wants the password, and destroy deregisters it.
func TestAddonOnDevAgent(t *testing.T) {
	a := startAgent(t)
	c := a.client(t)
	nodes, _, err := c.Nodes().List(nil)
	if err != nil || len(nodes) == 0 {
		t.Fatalf("nodes: %v %v", nodes, err)
	}
	node := nodes[0]
	if d := node.Drivers["docker"]; d == nil || !d.Healthy {
		t.Skip("the dev agent's node has no healthy docker driver, which an add-on's image needs")
	}
	s := newTestScheduler(t, a, nil)
	ctx := bg(t)
	const pw = "devagent-password-0123456789abcdef"
	url, err := s.CreateAddon(ctx, AddonJob{Name: "devcache", Type: "redis", Version: "7", Node: node.Name, Volume: devAddonVolume, MemoryMB: 128}, pw)
	if err != nil {
		t.Fatalf("CreateAddon: %v\nnomad agent log:\n%s", err, a.agentLog())
	}
	t.Cleanup(func() { s.DestroyAddon(context.Background(), "devcache") })
	addr := strings.TrimPrefix(url, "redis://default:"+pw+"@")
	if addr == url {
		t.Fatalf("URL %s", url)
	}
	conn, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		t.Fatalf("dialing the add-on at %s: %v", addr, err)
	}
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	fmt.Fprintf(conn, "PING\r\nAUTH %s\r\nPING\r\n", pw)
	r := bufio.NewReader(conn)
	var got []string
	for range 3 {
		l, _ := r.ReadString('\n')
		got = append(got, strings.TrimSpace(l))
	}
	conn.Close()
	if !strings.HasPrefix(got[0], "-NOAUTH") || got[1] != "+OK" || got[2] != "+PONG" {
		t.Errorf("the add-on answered %q", got)
	}
	job, _, err := c.Jobs().Info(AddonJobID("devcache"), nil)
	if err != nil || strings.Contains(fmt.Sprint(job.Meta), pw) {
		t.Errorf("the job: %v, meta %v", err, job.Meta)
	}
	if err := s.DestroyAddon(ctx, "devcache"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := c.Jobs().Info(AddonJobID("devcache"), nil); err == nil {
		t.Error("the job is still there after destroy")
	}
}
