// Package nomadstub is a stand-in for Nomad's HTTP API, for the calls an
// add-on's create and destroy make (scheduler/nomad's CreateAddon,
// DestroyAddon): register a job, its Variable, the evaluation, the
// allocations, the service catalog, deregister. Nomad cannot run where
// pier's tests run (no binary, and an add-on's job needs the docker
// driver), so tests drive the real nomad/api client against it and check
// what reaches Nomad; scheduler/nomad's TestAddonOnDevAgent runs the same
// path on a real `nomad agent -dev` when one is installed.
package nomadstub

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/nomad/api"
)

// Server is a running stand-in. Every job it is given runs at once on a
// node at 10.0.0.7, its service at port 23456, unless the job is pinned
// to node "broken", whose driver fails to pull the image.
type Server struct {
	URL string // http://127.0.0.1:PORT

	mu   sync.Mutex
	jobs map[string]*api.Job
	vars map[string]map[string]string
	log  []string // METHOD PATH of every request
}

// Start starts a stand-in on 127.0.0.1 until the test ends.
func Start(t testing.TB) *Server {
	n := &Server{jobs: map[string]*api.Job{}, vars: map[string]map[string]string{}}
	srv := httptest.NewServer(http.HandlerFunc(n.serve))
	t.Cleanup(srv.Close)
	n.URL = srv.URL
	return n
}

// Job is the job registered as id, nil when none is.
func (n *Server) Job(id string) *api.Job {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.jobs[id]
}

// Variable is the items of the Variable at path, nil when none is.
func (n *Server) Variable(path string) map[string]string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.vars[path]
}

// Counts are how many jobs and Variables it holds.
func (n *Server) Counts() (jobs, vars int) {
	n.mu.Lock()
	defer n.mu.Unlock()
	return len(n.jobs), len(n.vars)
}

// Requests are METHOD PATH of every request it was sent.
func (n *Server) Requests() []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return append([]string(nil), n.log...)
}

func (n *Server) serve(w http.ResponseWriter, r *http.Request) {
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
		v := uint64(0)
		req.Job.Version = &v
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
			if "pier-addon-"+strings.TrimPrefix(id, "pier-addon-") == name {
				reply([]*api.ServiceRegistration{{ServiceName: name, JobID: id, Address: "10.0.0.7", Port: 23456}})
				return
			}
		}
		reply([]any{})
	default:
		http.Error(w, "the stand-in does not know "+r.Method+" "+p, 404)
	}
}
