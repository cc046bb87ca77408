package dashboard

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/pierhq/pier/api"
)

// Graphs are inline SVG drawn on the server: polylines scaled into a fixed
// view box, a label for the top of the scale and for the ends of the time
// axis, and a marker per release made in the window. No script, so the
// CSP stays strict; the browser scales the view box to the page's width.

const (
	chartW, chartH = 600, 120
	sparkW, sparkH = 100, 24
	maxLines       = 6 // the stylesheet's line colours
)

// sample is one value of a series at a time.
type sample struct {
	at time.Time
	v  float64
}

// series is one line of a graph.
type series struct {
	name    string
	samples []sample
}

// chartLine is a drawn series: its name and its polyline's points.
type chartLine struct {
	Name   string
	Class  string
	Points string
}

// chartMarker is a release made in the window, at X.
type chartMarker struct {
	at    time.Time
	X     string
	Label string
}

// chart is one graph as the template draws it.
type chart struct {
	ID       string
	Title    string
	Max      float64 // the top of the scale
	MaxLabel string
	From, To string // the time axis' ends
	Lines    []chartLine
	Markers  []chartMarker
	Points   int    // samples drawn, over all lines
	Empty    string // said instead of a graph
	W, H     int
}

// newChart scales series into a chart over [from, to], with markers for
// releases made then; format writes a value (the top label).
func newChart(id, title string, from, to time.Time, ss []series, format func(float64) string, rels []api.Release, w, h int) chart {
	c := chart{ID: id, Title: title, W: w, H: h, From: from.UTC().Format("15:04"), To: to.UTC().Format("15:04 UTC")}
	span := to.Sub(from).Seconds()
	if span <= 0 {
		span = 1
	}
	for _, s := range ss {
		for _, p := range s.samples {
			c.Max = max(c.Max, p.v)
		}
	}
	top := c.Max
	if top <= 0 {
		top = 1
	}
	c.MaxLabel = format(c.Max)
	x := func(t time.Time) float64 { return float64(w) * t.Sub(from).Seconds() / span }
	for i, s := range ss {
		if len(s.samples) == 0 {
			continue
		}
		pts := make([]string, 0, len(s.samples))
		for _, p := range s.samples {
			pts = append(pts, coord(x(p.at))+","+coord(float64(h)-float64(h)*p.v/top))
		}
		c.Points += len(pts)
		c.Lines = append(c.Lines, chartLine{Name: s.name, Class: "line-" + strconv.Itoa(i%maxLines), Points: strings.Join(pts, " ")})
	}
	for _, r := range rels {
		if !r.CreatedAt.Before(from) && !r.CreatedAt.After(to) {
			c.Markers = append(c.Markers, chartMarker{at: r.CreatedAt, X: coord(x(r.CreatedAt)), Label: "v" + strconv.Itoa(r.Version)})
		}
	}
	slices.SortStableFunc(c.Markers, func(a, b chartMarker) int { return a.at.Compare(b.at) })
	return c
}

func coord(f float64) string { return strconv.FormatFloat(f, 'f', 1, 64) }

// appCharts are an app's graphs from its history, with its releases as
// deploy markers.
func appCharts(h api.MetricsHistory, rels []api.Release) []chart {
	if len(h.Points) == 0 {
		return nil
	}
	first, last := h.Points[0], h.Points[len(h.Points)-1]
	from, to := first.At.Add(-time.Duration(first.Seconds*float64(time.Second))), last.At
	var reqs, errs, up, mem series
	reqs.name, errs.name, up.name, mem.name = "requests/s", "5xx ratio", "instances up", "memory"
	latency := map[string]*[2]series{} // per release: p50, p95
	var order []string
	memKnown := false
	for _, p := range h.Points {
		rate, ratio := pointTraffic(p)
		reqs.samples = append(reqs.samples, sample{p.At, rate})
		errs.samples = append(errs.samples, sample{p.At, ratio})
		up.samples = append(up.samples, sample{p.At, float64(p.Up)})
		mem.samples = append(mem.samples, sample{p.At, float64(p.Memory)})
		memKnown = memKnown || p.MemoryKnown
		for _, r := range p.Releases {
			if r.Release == "" || r.Requests <= 0 {
				continue
			}
			l := latency[r.Release]
			if l == nil {
				l = &[2]series{{name: r.Release + " p50"}, {name: r.Release + " p95"}}
				latency[r.Release] = l
				order = append(order, r.Release)
			}
			l[0].samples = append(l[0].samples, sample{p.At, r.P50})
			l[1].samples = append(l[1].samples, sample{p.At, r.P95})
		}
	}
	var lat []series
	for _, r := range order {
		lat = append(lat, latency[r][0], latency[r][1])
	}
	charts := []chart{
		newChart("requests", "Requests", from, to, []series{reqs}, perSecond, rels, chartW, chartH),
		newChart("errors", "Error ratio (5xx)", from, to, []series{errs}, ratioLabel, rels, chartW, chartH),
		newChart("latency", "Latency p50 / p95 per release", from, to, lat, millis, rels, chartW, chartH),
		newChart("instances", "Instances up", from, to, []series{up}, count, rels, chartW, chartH),
		newChart("memory", "Memory", from, to, []series{mem}, bytesLabel, rels, chartW, chartH),
	}
	if len(lat) == 0 {
		charts[2].Empty = "No requests reached an instance in this window."
	}
	if !memKnown {
		charts[4].Empty = "Not measured: the local scheduler measures instances with a memory limit (pier scale web=1:256M)."
	}
	return charts
}

// pointTraffic is a point's request rate and 5xx ratio over all releases.
func pointTraffic(p api.MetricsPoint) (rate, ratio float64) {
	var reqs, errs float64
	for _, r := range p.Releases {
		reqs += r.Requests
		errs += r.Errors
	}
	if p.Seconds > 0 {
		rate = reqs / p.Seconds
	}
	if reqs > 0 {
		ratio = errs / reqs
	}
	return rate, ratio
}

// sparklines are the overview's small graphs of an app's recent request
// rate and 5xx ratio; none without points.
func sparklines(pts []api.MetricsPoint) (rate, ratio *chart) {
	if len(pts) == 0 {
		return nil, nil
	}
	var reqs, errs series
	for _, p := range pts {
		r, e := pointTraffic(p)
		reqs.samples = append(reqs.samples, sample{p.At, r})
		errs.samples = append(errs.samples, sample{p.At, e})
	}
	first, last := pts[0], pts[len(pts)-1]
	from := first.At.Add(-time.Duration(first.Seconds * float64(time.Second)))
	rc := newChart("", "requests/s", from, last.At, []series{reqs}, perSecond, nil, sparkW, sparkH)
	ec := newChart("", "5xx ratio", from, last.At, []series{errs}, ratioLabel, nil, sparkW, sparkH)
	return &rc, &ec
}

func perSecond(f float64) string  { return trimFloat(f) + "/s" }
func ratioLabel(f float64) string { return trimFloat(f*100) + "%" }
func millis(f float64) string     { return trimFloat(f*1000) + " ms" }
func count(f float64) string      { return strconv.Itoa(int(f)) }

func bytesLabel(f float64) string {
	switch {
	case f >= 1<<30:
		return trimFloat(f/(1<<30)) + " GiB"
	case f >= 1<<20:
		return trimFloat(f/(1<<20)) + " MiB"
	case f >= 1<<10:
		return trimFloat(f/(1<<10)) + " KiB"
	}
	return fmt.Sprintf("%.0f B", f)
}

// trimFloat writes f with up to 2 decimals, no trailing zeros.
func trimFloat(f float64) string {
	s := strconv.FormatFloat(f, 'f', 2, 64)
	s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	if s == "" || s == "-0" {
		return "0"
	}
	return s
}
