package api

import "testing"

func TestReviewAppName(t *testing.T) {
	for _, c := range []struct {
		pipeline string
		pr       int
		branch   string
		want     string
	}{
		{"shop", 42, "feature/x", "shop-pr-42"},
		{"shop", 0, "Feature/Add_Login", "shop-feature-add-login"},
		{"shop", 0, "--weird..name--", "shop-weird-name"},
		{"shop", 0, "a-very-long-branch-name-that-goes-on-and-on", "shop-a-very-long-branch-name-t"},
		{"shop", 0, "a-very-long-branch-name-th-", "shop-a-very-long-branch-name-t"},
	} {
		if got := ReviewAppName(c.pipeline, c.pr, c.branch); got != c.want {
			t.Errorf("ReviewAppName(%q, %d, %q) = %q, want %q", c.pipeline, c.pr, c.branch, got, c.want)
		}
		if got := ReviewAppName(c.pipeline, c.pr, c.branch); len(got) > 30 {
			t.Errorf("%q is over 30 characters", got)
		}
	}
}
