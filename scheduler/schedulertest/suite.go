package schedulertest

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/pierhq/pier/scheduler"
)

// Run runs the behaviour tests against schedulers made by newSched. Each
// test deploys its own app and stops it at the end; newSched should close
// the scheduler in a t.Cleanup.
func Run(t *testing.T, newSched func(t *testing.T) scheduler.Scheduler) {
	slug := HelloSlug(t)
	tests := []struct {
		name string
		fn   func(*testing.T, scheduler.Scheduler, Slug)
	}{
		{"DeployServesEveryInstance", testDeploy},
		{"BadDeploymentChangesNothing", testBadDeployment},
		{"Scale", testScale},
		{"CrashIsRestarted", testCrash},
		{"Logs", testLogs},
		{"RunOneOff", testRun},
		{"StopLeavesNothing", testStop},
		{"RedeployReplacesSlot", testRedeploy},
		{"RollingRestart", testRestart},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.fn(t, newSched(t), slug)
		})
	}
}

// deploy deploys and registers a Stop of the whole app at the end.
func deploy(t *testing.T, s scheduler.Scheduler, d scheduler.Deployment) {
	t.Helper()
	t.Cleanup(func() { s.Stop(context.Background(), d.App, "") })
	if err := s.Deploy(ctx(t), d); err != nil {
		t.Fatalf("Deploy: %v", err)
	}
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), WaitTimeout)
	t.Cleanup(cancel)
	return c
}

func testDeploy(t *testing.T, s scheduler.Scheduler, slug Slug) {
	f := scheduler.Formation{"web": 2, "worker": 1}
	deploy(t, s, Deployment("envapp", "blue", 3, slug, f))
	ins := WaitUp(t, s, "envapp", "blue", f)
	ports := map[string]bool{}
	for _, name := range []string{"web.1", "web.2"} {
		in := ins[name]
		if in.Release != 3 || in.App != "envapp" || in.PID == 0 || in.StartedAt.IsZero() {
			t.Errorf("%s: instance %+v lacks its release, app, pid or start time", name, in)
		}
		env := Env(t, in.Addr)
		want := map[string]string{
			"DYNO": name, "PIER_APP": "envapp", "PIER_RELEASE": "v3",
			"PIER_SLOT": "blue", "GREETING": "hi",
		}
		for k, v := range want {
			if env[k] != v {
				t.Errorf("%s: %s=%q, want %q", name, k, env[k], v)
			}
		}
		if !strings.HasSuffix(in.Addr, ":"+env["PORT"]) {
			t.Errorf("%s: listens on PORT=%s but Instances says %s", name, env["PORT"], in.Addr)
		}
		ports[env["PORT"]] = true
		if !strings.Contains(env["PATH"], "bin") || env["_CWD"] == "" {
			t.Errorf("%s: PATH=%q cwd=%q: want the slug's bin on PATH", name, env["PATH"], env["_CWD"])
		}
	}
	if len(ports) != 2 {
		t.Errorf("web.1 and web.2 share a port: %v", ports)
	}
	if ins["worker.1"].PID == 0 {
		t.Errorf("worker.1 has no pid: %+v", ins["worker.1"])
	}
}

func testBadDeployment(t *testing.T, s scheduler.Scheduler, slug Slug) {
	t.Cleanup(func() { s.Stop(context.Background(), "badapp", "") })
	for name, d := range map[string]scheduler.Deployment{
		"unknown type":   Deployment("badapp", "blue", 1, slug, scheduler.Formation{"wrk": 1}),
		"negative count": Deployment("badapp", "blue", 1, slug, scheduler.Formation{"web": -1}),
		"bad checksum": func() scheduler.Deployment {
			d := Deployment("badapp", "blue", 1, slug, scheduler.Formation{"web": 1})
			d.SlugSHA256 = strings.Repeat("0", 64)
			return d
		}(),
	} {
		if err := s.Deploy(ctx(t), d); err == nil {
			t.Errorf("%s: Deploy succeeded, want an error", name)
		} else if name == "unknown type" && !strings.Contains(err.Error(), "wrk") {
			t.Errorf("%s: error %q does not name the type", name, err)
		}
	}
	if ins := Slot(t, s, "badapp", "blue"); len(ins) != 0 {
		t.Errorf("a refused deploy started %v", ins)
	}
}

func testScale(t *testing.T, s scheduler.Scheduler, slug Slug) {
	deploy(t, s, Deployment("scaleapp", "green", 1, slug, scheduler.Formation{"web": 1, "worker": 1}))
	before := WaitUp(t, s, "scaleapp", "green", scheduler.Formation{"web": 1, "worker": 1})
	if err := s.Scale(ctx(t), "scaleapp", "green", scheduler.Formation{"web": 3}); err != nil {
		t.Fatalf("Scale web=3: %v", err)
	}
	up := WaitUp(t, s, "scaleapp", "green", scheduler.Formation{"web": 3, "worker": 1})
	for _, name := range []string{"web.1", "worker.1"} {
		if up[name].PID != before[name].PID {
			t.Errorf("%s was restarted by scaling (pid %d, then %d)", name, before[name].PID, up[name].PID)
		}
	}
	for name, in := range up {
		if in.Type == "web" {
			if body, err := Get(in.Addr, "/"); err != nil || !strings.Contains(body, name) {
				t.Errorf("GET %s on %s: %q, %v", name, in.Addr, body, err)
			}
		}
	}
	if err := s.Scale(ctx(t), "scaleapp", "green", scheduler.Formation{"web": 1, "worker": 0}); err != nil {
		t.Fatalf("Scale web=1 worker=0: %v", err)
	}
	after := WaitUp(t, s, "scaleapp", "green", scheduler.Formation{"web": 1})
	if after["web.1"].PID != before["web.1"].PID {
		t.Errorf("web.1 was restarted by scaling down")
	}
	WaitClosed(t, up["web.2"].Addr)
	WaitClosed(t, up["web.3"].Addr)
	if err := s.Scale(ctx(t), "scaleapp", "green", scheduler.Formation{"clock": 1}); err == nil {
		t.Errorf("scaling a type the Procfile lacks succeeded")
	}
}

func testCrash(t *testing.T, s scheduler.Scheduler, slug Slug) {
	deploy(t, s, Deployment("crashapp", "blue", 1, slug, scheduler.Formation{"web": 1}))
	in := WaitUp(t, s, "crashapp", "blue", scheduler.Formation{"web": 1})["web.1"]
	Get(in.Addr, "/crash")
	WaitFor(t, "web.1 to be restarted", func() (bool, string) {
		ins := Slot(t, s, "crashapp", "blue")
		if len(ins) != 1 {
			return false, fmt.Sprintf("instances: %v", ins)
		}
		now := ins[0]
		if now.Restarts < 1 || now.State != "up" {
			return false, fmt.Sprintf("state %s, %d restarts", now.State, now.Restarts)
		}
		if _, err := Get(now.Addr, "/"); err != nil {
			return false, err.Error()
		}
		return now.PID != in.PID, "same pid"
	})
	text := readLogs(t, s, "crashapp", scheduler.LogOptions{Lines: 1000})
	if !strings.Contains(text, "hello crashing") {
		t.Errorf("the crashed process's last output is not in the logs:\n%s", text)
	}
}

// logLine is Heroku's log format.
var logLine = regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}[+-]\d\d:\d\d [a-z]+\[[a-z0-9._-]+\]: `)

func readLogs(t *testing.T, s scheduler.Scheduler, app string, o scheduler.LogOptions) string {
	t.Helper()
	rc, err := s.Logs(ctx(t), app, o)
	if err != nil {
		t.Fatalf("Logs: %v", err)
	}
	defer rc.Close()
	var b bytes.Buffer
	if _, err := b.ReadFrom(rc); err != nil {
		t.Fatalf("reading logs: %v", err)
	}
	return b.String()
}

func testLogs(t *testing.T, s scheduler.Scheduler, slug Slug) {
	deploy(t, s, Deployment("logapp", "blue", 1, slug, scheduler.Formation{"web": 1, "worker": 1}))
	web := WaitUp(t, s, "logapp", "blue", scheduler.Formation{"web": 1, "worker": 1})["web.1"]
	for i := range 3 {
		if _, err := Get(web.Addr, fmt.Sprintf("/log?m=mark%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	WaitFor(t, "the marks in the logs", func() (bool, string) {
		text := readLogs(t, s, "logapp", scheduler.LogOptions{Lines: 1000, Process: "web"})
		return strings.Contains(text, "app[web.1]: hello says mark2"), text
	})
	text := readLogs(t, s, "logapp", scheduler.LogOptions{Lines: 2, Process: "web"})
	lines := strings.Split(strings.TrimSuffix(text, "\n"), "\n")
	if len(lines) != 2 {
		t.Fatalf("Lines: 2 gave %d lines:\n%s", len(lines), text)
	}
	for _, l := range lines {
		if !logLine.MatchString(l) || strings.Contains(l, "worker") {
			t.Errorf("line %q is not a web line in Heroku's format", l)
		}
	}
	if !strings.HasSuffix(lines[1], "app[web.1]: hello says mark2") && !strings.Contains(text, "mark2") {
		t.Errorf("the last web lines lack the last mark:\n%s", text)
	}
	WaitFor(t, "worker lines", func() (bool, string) {
		text := readLogs(t, s, "logapp", scheduler.LogOptions{Lines: 5, Process: "worker"})
		return strings.Contains(text, "app[worker.1]: worker tick") && !strings.Contains(text, "hello"), text
	})
	testFollow(t, s, web)
}

func testFollow(t *testing.T, s scheduler.Scheduler, web scheduler.Instance) {
	c, cancel := context.WithTimeout(context.Background(), WaitTimeout)
	defer cancel()
	rc, err := s.Logs(c, "logapp", scheduler.LogOptions{Lines: 1, Follow: true, Process: "web"})
	if err != nil {
		t.Fatalf("Logs follow: %v", err)
	}
	defer rc.Close()
	lines := make(chan string)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(rc)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	time.Sleep(300 * time.Millisecond)
	if _, err := Get(web.Addr, "/log?m=followed"); err != nil {
		t.Fatal(err)
	}
	for {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatal("the followed log ended before the new line came")
			}
			if strings.Contains(l, "worker") {
				t.Errorf("followed web log has a worker line: %q", l)
			}
			if strings.HasSuffix(l, "app[web.1]: hello says followed") {
				rc.Close()
				for range lines { // the reader ends once closed
				}
				return
			}
		case <-c.Done():
			t.Fatal("the new line never reached the followed log")
		}
	}
}

func testRun(t *testing.T, s scheduler.Scheduler, slug Slug) {
	d := Deployment("runapp", "blue", 4, slug, nil)
	t.Cleanup(func() { s.Stop(context.Background(), "runapp", "") })
	var out bytes.Buffer
	code, err := s.Run(ctx(t), "runapp", scheduler.OneOff{
		Deployment: d,
		Command:    `echo "$DYNO $PIER_APP $PIER_RELEASE $GREETING"; ls bin; read line; echo "got $line"; exit 7`,
		Stdin:      strings.NewReader("input\n"),
		Output:     &out,
	})
	if err != nil || code != 7 {
		t.Fatalf("Run: code %d, %v; output:\n%s", code, err, out.String())
	}
	for _, want := range []string{"run.", "runapp v4 hi", "hello", "got input"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
	start := time.Now()
	code, err = s.Run(ctx(t), "runapp", scheduler.OneOff{Deployment: d, Command: "sleep 60", Timeout: 500 * time.Millisecond, Output: &out})
	if err == nil && code == 0 {
		t.Errorf("a one-off past its timeout succeeded")
	}
	if time.Since(start) > 10*time.Second {
		t.Errorf("a one-off with a 500ms timeout took %s", time.Since(start))
	}
}

func testStop(t *testing.T, s scheduler.Scheduler, slug Slug) {
	f := scheduler.Formation{"web": 2, "worker": 1}
	deploy(t, s, Deployment("stopapp", "blue", 1, slug, f))
	deploy(t, s, Deployment("stopapp", "green", 2, slug, scheduler.Formation{"web": 1}))
	blue := WaitUp(t, s, "stopapp", "blue", f)
	green := WaitUp(t, s, "stopapp", "green", scheduler.Formation{"web": 1})
	if err := s.Stop(ctx(t), "stopapp", "green"); err != nil {
		t.Fatalf("Stop green: %v", err)
	}
	WaitClosed(t, green["web.1"].Addr)
	if _, err := Get(blue["web.1"].Addr, "/"); err != nil {
		t.Errorf("stopping green stopped blue: %v", err)
	}
	if err := s.Stop(ctx(t), "stopapp", ""); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	for _, in := range blue {
		if in.Type == "web" {
			WaitClosed(t, in.Addr)
		}
	}
	c, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if ins, err := s.Instances(c, "stopapp"); err != nil && !errors.Is(err, scheduler.ErrNotFound) || len(ins) != 0 {
		t.Errorf("after Stop: instances %v, %v", ins, err)
	}
	// Stop of the whole app is how an app is destroyed: its logs go too.
	if rc, err := s.Logs(c, "stopapp", scheduler.LogOptions{Lines: 100}); err == nil {
		var b bytes.Buffer
		b.ReadFrom(rc)
		rc.Close()
		if b.Len() != 0 {
			t.Errorf("after Stop of the app, its logs remain:\n%s", b.String())
		}
	} else if !errors.Is(err, scheduler.ErrNotFound) {
		t.Errorf("Logs after Stop: %v, want no lines or ErrNotFound", err)
	}
}

func testRedeploy(t *testing.T, s scheduler.Scheduler, slug Slug) {
	deploy(t, s, Deployment("redeployapp", "blue", 1, slug, scheduler.Formation{"web": 1}))
	v1 := WaitUp(t, s, "redeployapp", "blue", scheduler.Formation{"web": 1})["web.1"]
	deploy(t, s, Deployment("redeployapp", "blue", 2, slug, scheduler.Formation{"web": 1}))
	v2 := WaitUp(t, s, "redeployapp", "blue", scheduler.Formation{"web": 1})["web.1"]
	if v2.Release != 2 || v2.PID == v1.PID {
		t.Fatalf("after deploying v2: %+v", v2)
	}
	if got := Env(t, v2.Addr)["PIER_RELEASE"]; got != "v2" {
		t.Errorf("PIER_RELEASE=%s, want v2", got)
	}
	if v1.Addr != v2.Addr {
		WaitClosed(t, v1.Addr)
	}
}

func testRestart(t *testing.T, s scheduler.Scheduler, slug Slug) {
	f := scheduler.Formation{"web": 2}
	deploy(t, s, Deployment("restartapp", "green", 1, slug, f))
	before := WaitUp(t, s, "restartapp", "green", f)
	if err := s.Restart(ctx(t), "restartapp", "green"); err != nil {
		t.Fatalf("Restart: %v", err)
	}
	after := WaitUp(t, s, "restartapp", "green", f)
	for name, in := range after {
		if in.PID == before[name].PID {
			t.Errorf("%s was not restarted", name)
		}
		if _, err := Get(in.Addr, "/"); err != nil {
			t.Errorf("%s after restart: %v", name, err)
		}
	}
	if err := s.Restart(ctx(t), "restartapp", "nosuchslot"); !errors.Is(err, scheduler.ErrNotFound) {
		t.Errorf("Restart of a slot never deployed: %v, want ErrNotFound", err)
	}
}
