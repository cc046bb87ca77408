package flags

import (
	"fmt"
	"strings"
	"testing"
)

func load(t *testing.T, env ...string) (Set, []string) {
	t.Helper()
	var warnings []string
	s := Load(env, func(f string, a ...any) { warnings = append(warnings, fmt.Sprintf(f, a...)) })
	return s, warnings
}

func share(s Set, name string, n int) float64 {
	on := 0
	for i := 0; i < n; i++ {
		if s.On(name, fmt.Sprintf("visitor-%d", i)) {
			on++
		}
	}
	return float64(on) / float64(n) * 100
}

func TestShareOverTenThousandVisitors(t *testing.T) {
	for _, p := range []int{1, 5, 25, 50, 90} {
		s, w := load(t, fmt.Sprintf("FLAG_NEW_SUMMARY=%d", p))
		if len(w) > 0 {
			t.Fatalf("warnings for a good value: %v", w)
		}
		if got := share(s, NewSummary, 10000); got < float64(p)-2 || got > float64(p)+2 {
			t.Errorf("FLAG_NEW_SUMMARY=%d: %.2f%% of 10000 visitors are in, want %d±2", p, got, p)
		}
	}
}

func TestZeroAndHundred(t *testing.T) {
	off, _ := load(t, "FLAG_NEW_SUMMARY=0")
	on, _ := load(t, "FLAG_NEW_SUMMARY=100")
	unset, _ := load(t, "PATH=/bin")
	for i := 0; i < 10000; i++ {
		v := fmt.Sprint(i)
		if off.On(NewSummary, v) || unset.On(NewSummary, v) {
			t.Fatalf("visitor %s is in a flag at 0%% or unset", v)
		}
		if !on.On(NewSummary, v) {
			t.Fatalf("visitor %s is not in a flag at 100%%", v)
		}
	}
}

func TestStablePerVisitorAndGrowing(t *testing.T) {
	s10, _ := load(t, "FLAG_NEW_SUMMARY=10")
	s50, _ := load(t, "FLAG_NEW_SUMMARY=50")
	for i := 0; i < 2000; i++ {
		v := fmt.Sprintf("visitor-%d", i)
		first := s10.On(NewSummary, v)
		for j := 0; j < 5; j++ {
			if s10.On(NewSummary, v) != first {
				t.Fatalf("visitor %s flips between calls", v)
			}
		}
		if first && !s50.On(NewSummary, v) {
			t.Fatalf("visitor %s is in at 10%% but not at 50%%", v)
		}
	}
	// Two flags at 50% are not the same half of the visitors.
	both, _ := load(t, "FLAG_A=50", "FLAG_B=50")
	same := 0
	for i := 0; i < 10000; i++ {
		v := fmt.Sprint(i)
		if both.On("A", v) == both.On("B", v) {
			same++
		}
	}
	if same < 4700 || same > 5300 {
		t.Errorf("flags A and B agree for %d of 10000 visitors, want about 5000", same)
	}
}

func TestBadValuesTurnTheFlagOff(t *testing.T) {
	for _, val := range []string{"abc", "-1", "101", "25.5", "", "50%", "1e2"} {
		s, w := load(t, "FLAG_NEW_SUMMARY="+val)
		if s.Percent(NewSummary) != 0 || share(s, NewSummary, 1000) != 0 {
			t.Errorf("FLAG_NEW_SUMMARY=%q: the flag is on", val)
		}
		if len(w) != 1 || !strings.Contains(w[0], "FLAG_NEW_SUMMARY") || !strings.Contains(w[0], "the flag is off") {
			t.Errorf("FLAG_NEW_SUMMARY=%q: warnings %q, want one line naming the flag", val, w)
		}
	}
	s, _ := load(t, "FLAG_NEW_SUMMARY= 30 ")
	if s.Percent(NewSummary) != 30 {
		t.Errorf("FLAG_NEW_SUMMARY=' 30 ': percent %d, want 30", s.Percent(NewSummary))
	}
	if got := s.String(); got != "NEW_SUMMARY=30%" {
		t.Errorf("String() = %q", got)
	}
}
