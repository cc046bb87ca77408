package nodejs

import "testing"

func TestSatisfies(t *testing.T) {
	tests := []struct {
		v, rng string
		want   bool
	}{
		{"20.20.2", "", true},
		{"20.20.2", "*", true},
		{"20.20.2", ">=18", true},
		{"16.0.0", ">=18", false},
		{"20.20.2", "20.x", true},
		{"20.20.2", "20", true},
		{"21.0.0", "20.x", false},
		{"20.20.2", "^20.1.0", true},
		{"21.0.0", "^20.1.0", false},
		{"0.2.9", "^0.2.3", true},
		{"0.3.0", "^0.2.3", false},
		{"20.20.2", "~20.20.0", true},
		{"20.21.0", "~20.20.0", false},
		{"20.20.2", "18 || 20", true},
		{"19.0.0", "18 || 20", false},
		{"20.20.2", ">=18 <21", true},
		{"21.1.0", ">=18 <21", false},
		{"20.20.2", "18.0.0 - 20.x", true},
		{"20.20.2", "<=20", true},
		{"20.20.2", ">20", false},
		{"20.20.2", "v20.20.2", true},
	}
	for _, tt := range tests {
		v, err := parseVersion(tt.v)
		if err != nil {
			t.Fatal(err)
		}
		got, err := satisfies(v, tt.rng)
		if err != nil || got != tt.want {
			t.Errorf("satisfies(%s, %q) = %v, %v; want %v", tt.v, tt.rng, got, err, tt.want)
		}
	}
	if _, err := satisfies(version{20}, ">=banana"); err == nil {
		t.Error("a malformed range was accepted")
	}
}
