package nomad

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/nomad/api"
)

// standIn is a stand-in for Nomad's HTTP API, for the calls an add-on's
// create and destroy make. Nomad cannot run here (no binary, and an
// add-on's job needs the docker driver), so the test drives the real
// nomad/api client against it and checks what reaches Nomad;
// TestAddonOnDevAgent runs the same path against a real agent when one
// is installed. Every job it is given runs at once on a node at
// 10.0.0.7, and its service is at port 23456, unless the job is pinned
// to node "broken", whose driver fails.
type standIn struct {
	mu   sync.Mutex
	jobs map[string]*api.Job
	vars map[string]map[string]string
	log  []string // METHOD PATH of every request
}

func newStandIn(t *testing.T) (*standIn, *httptest.Server) {
	n := &standIn{jobs: map[string]*api.Job{}, vars: map[string]map[string]string{}}
	srv := httptest.NewServer(http.HandlerFunc(n.serve))
	t.Cleanup(srv.Close)
	return n, srv
}

func (n *standIn) serve(w http.ResponseWriter, r *http.Request) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.log = append(n.log, r.Method+" "+r.URL.Path)
	w.Header().Set("X-Nomad-Index", "7")
	reply := func(v any) { json.NewEncoder(w).Encode(v) }
	p := r.URL.Path
	switch {
	case p == "/v1/status/leader":
		reply("127.0.0.1:4647")
	case p == "/v1/jobs" && r.Method == http.MethodGet:
		reply([]any{})
	case p == "/v1/jobs":
		var req api.JobRegisterRequest
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
			http.Error(w, err.Error(), 400)
			return
		}
		req.Job.Version = ptr(uint64(0))
		n.jobs[*req.Job.ID] = req.Job
		reply(api.JobRegisterResponse{EvalID: "eval-" + *req.Job.ID})
	case strings.HasPrefix(p, "/v1/evaluation/"):
		reply(api.Evaluation{ID: strings.TrimPrefix(p, "/v1/evaluation/"), Status: "complete"})
	case strings.HasPrefix(p, "/v1/var/"):
		path := strings.TrimPrefix(p, "/v1/var/")
		switch r.Method {
		case http.MethodDelete:
			delete(n.vars, path)
			w.WriteHeader(http.StatusNoContent)
		case http.MethodGet:
			if v, ok := n.vars[path]; ok {
				reply(api.Variable{Path: path, Items: v})
				return
			}
			http.Error(w, "variable not found", 404)
		default:
			var v api.Variable
			json.NewDecoder(r.Body).Decode(&v)
			n.vars[path] = v.Items
			reply(v)
		}
	case strings.HasPrefix(p, "/v1/job/") && strings.HasSuffix(p, "/allocations"):
		id := strings.TrimSuffix(strings.TrimPrefix(p, "/v1/job/"), "/allocations")
		job, ok := n.jobs[id]
		if !ok {
			reply([]any{})
			return
		}
		ts := &api.TaskState{State: "running", StartedAt: time.Now()}
		status := api.AllocClientStatusRunning
		if job.Constraints[0].RTarget == "broken" {
			ts = &api.TaskState{State: "dead", Events: []*api.TaskEvent{{Type: api.TaskDriverFailure, DisplayMessage: "Failed to pull `postgres:15`: no such image"}}}
			status = api.AllocClientStatusFailed
		}
		reply([]*api.AllocationListStub{{ID: "alloc-1", Name: id + ".db[0]", TaskGroup: "db", JobVersion: 0,
			DesiredStatus: api.AllocDesiredStatusRun, ClientStatus: status, TaskStates: map[string]*api.TaskState{"db": ts}}})
	case strings.HasPrefix(p, "/v1/job/") && r.Method == http.MethodDelete:
		delete(n.jobs, strings.TrimPrefix(p, "/v1/job/"))
		reply(api.JobDeregisterResponse{EvalID: "eval-stop"})
	case strings.HasPrefix(p, "/v1/job/"):
		if job, ok := n.jobs[strings.TrimPrefix(p, "/v1/job/")]; ok {
			reply(job)
			return
		}
		http.Error(w, "job not found", 404)
	case strings.HasPrefix(p, "/v1/service/"):
		name := strings.TrimPrefix(p, "/v1/service/")
		for id := range n.jobs {
			if AddonServiceName(strings.TrimPrefix(id, "pier-addon-")) == name {
				reply([]*api.ServiceRegistration{{ServiceName: name, JobID: id, Address: "10.0.0.7", Port: 23456}})
				return
			}
		}
		reply([]any{})
	default:
		http.Error(w, "the stand-in does not know "+r.Method+" "+p, 404)
	}
}

// TestAddonOnNomadStandIn: creating an add-on registers its job (pinned
// to its node, its host volume mounted, its service in Nomad's catalog,
// its resources) with the password in the job's Variable and nowhere in
// the job; the URL is the catalog's address. One whose task fails to
// start is removed, job and Variable; destroy deregisters and deletes
// the Variable.
func TestAddonOnNomadStandIn(t *testing.T) {
	n, srv := newStandIn(t)
	s, err := New(Options{Address: srv.URL})
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
	n.mu.Lock()
	job := n.jobs["pier-addon-shop-postgres"]
	vars := n.vars["nomad/jobs/pier-addon-shop-postgres"]
	n.mu.Unlock()
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
	n.mu.Lock()
	_, jobLeft := n.jobs["pier-addon-broken-db"]
	_, varLeft := n.vars["nomad/jobs/pier-addon-broken-db"]
	n.mu.Unlock()
	if jobLeft || varLeft {
		t.Errorf("after a failed create: job left %v, Variable left %v", jobLeft, varLeft)
	}

	if err := s.DestroyAddon(ctx, "shop-postgres"); err != nil {
		t.Fatal(err)
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if len(n.jobs) != 0 || len(n.vars) != 0 {
		t.Errorf("after destroy: jobs %v, variables %v", n.jobs, n.vars)
	}
	if !strings.Contains(strings.Join(n.log, "\n"), "DELETE /v1/job/pier-addon-shop-postgres") {
		t.Errorf("destroy did not deregister the job:\n%s", strings.Join(n.log, "\n"))
	}

	if got := AddonURL(AddonJob{Name: "cache", Type: "redis"}, pw, "10.0.0.8:1234"); got != "redis://default:"+pw+"@10.0.0.8:1234" {
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
