package cli

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	ucli "github.com/urfave/cli/v2"

	"github.com/pierhq/pier/api"
)

// settingKeys are the settings every app has, in the order they are listed.
var settingKeys = []string{"rate-limit", "rate-burst", "standby-window", "watch-window"}

// canarySettingKeys are the canary's settings (docs/canaries.md), listed
// only when set.
var canarySettingKeys = []string{"canary", "canary.steps", "canary.interval", "canary.min-requests",
	"canary.max-error-pct", "canary.max-latency-ratio", "canary.max-failures", "canary.max-failures-in-row"}

func settingsCommand() *ucli.Command {
	return &ucli.Command{
		Name:  "settings",
		Usage: "an app's proxy and deploy settings (rate limit, windows, response headers)",
		Description: "Keys: rate-limit (requests per second per client IP, 0 = off), rate-burst,\n" +
			"standby-window and watch-window (durations like 15m), header.NAME (a response\n" +
			"header; an empty value removes a default header), canary (on: a push deploys\n" +
			"as a canary), canary.steps, canary.interval, canary.min-requests,\n" +
			"canary.max-error-pct, canary.max-latency-ratio, canary.max-failures and\n" +
			"canary.max-failures-in-row (see docs/canaries.md). Settings make no release.",
		Flags:  appFlags(),
		Action: runSettings,
		Subcommands: []*ucli.Command{
			{Name: "set", Usage: "change settings", ArgsUsage: "KEY=VALUE ...", Flags: appFlags(), Action: runSettingsSet},
			{Name: "unset", Usage: "return settings to their defaults", ArgsUsage: "KEY ...", Flags: appFlags(), Action: runSettingsUnset},
		},
	}
}

func runSettings(c *ucli.Context) error {
	as, err := args(c)
	if err != nil {
		return err
	}
	if len(as) > 0 {
		return fmt.Errorf("unknown command %q (see `%s --help`)", as[0], helpName(c))
	}
	cl, app, err := appClient(c)
	if err != nil {
		return err
	}
	a, err := cl.GetApp(c.Context, app)
	if err != nil {
		return err
	}
	return printSettings(c, a)
}

// appSettings are the settings an app has set, by key.
func appSettings(a api.App) map[string]string {
	m := map[string]string{}
	if a.RateLimitRPS != 0 {
		m["rate-limit"] = strconv.FormatFloat(a.RateLimitRPS, 'f', -1, 64)
	}
	if a.RateLimitBurst != 0 {
		m["rate-burst"] = strconv.Itoa(a.RateLimitBurst)
	}
	if a.StandbyWindow != 0 {
		m["standby-window"] = time.Duration(a.StandbyWindow).String()
	}
	if a.WatchWindow != 0 {
		m["watch-window"] = time.Duration(a.WatchWindow).String()
	}
	t := a.CanarySettings
	if t.OnPush {
		m["canary"] = "on"
	}
	if len(t.Steps) > 0 {
		m["canary.steps"] = joinInts(t.Steps)
	}
	if t.Interval != 0 {
		m["canary.interval"] = time.Duration(t.Interval).String()
	}
	for k, v := range map[string]float64{"min-requests": float64(t.MinRequests), "max-error-pct": t.MaxErrorPct,
		"max-latency-ratio": t.MaxLatency, "max-failures": float64(t.MaxFailures), "max-failures-in-row": float64(t.MaxFailuresRow)} {
		if v != 0 {
			m["canary."+k] = strconv.FormatFloat(v, 'f', -1, 64)
		}
	}
	for k, v := range a.Headers {
		m["header."+k] = v
	}
	return m
}

// printSettings prints every setting key with its value, "(default)" for
// those not set; --json prints only the set ones, as an object.
func printSettings(c *ucli.Context, a api.App) error {
	m := appSettings(a)
	if wantJSON(c) {
		return printJSON(c, m)
	}
	t := newTable(c.App.Writer, "KEY", "VALUE")
	for _, k := range settingKeys {
		v, ok := m[k]
		if !ok {
			v = "(default)"
		}
		t.row(k, v)
	}
	var headers []string
	for k := range m {
		if strings.HasPrefix(k, "header.") {
			headers = append(headers, k)
		}
	}
	slices.Sort(headers)
	for _, k := range headers {
		v := m[k]
		if v == "" {
			v = "(removed)"
		}
		t.row(k, v)
	}
	return t.flush()
}

func runSettingsSet(c *ucli.Context) error {
	as := c.Args().Slice() // header values may start with "-"
	if len(as) == 0 {
		return fmt.Errorf("say what to set: pier settings set -a APP rate-limit=20 header.X-Frame-Options=DENY")
	}
	changes := map[string]*string{}
	for _, a := range as {
		k, v, ok := strings.Cut(a, "=")
		if !ok && strings.HasPrefix(a, "-") {
			_, err := args(c)
			return err
		}
		if !ok || k == "" {
			return fmt.Errorf("%q is not KEY=VALUE: pier settings set -a APP rate-limit=20", a)
		}
		if err := checkSettingKey(k); err != nil {
			return err
		}
		changes[k] = &v
	}
	return updateSettings(c, changes)
}

func runSettingsUnset(c *ucli.Context) error {
	as, err := args(c)
	if err != nil {
		return err
	}
	if len(as) == 0 {
		return fmt.Errorf("say what to unset: pier settings unset -a APP rate-limit ...")
	}
	changes := map[string]*string{}
	for _, k := range as {
		if err := checkSettingKey(k); err != nil {
			return err
		}
		changes[k] = nil
	}
	return updateSettings(c, changes)
}

// checkSettingKey catches a mistyped key before anything is sent; the
// agent checks the values.
func checkSettingKey(k string) error {
	if slices.Contains(settingKeys, k) || slices.Contains(canarySettingKeys, k) || strings.HasPrefix(k, "header.") && len(k) > len("header.") {
		return nil
	}
	return fmt.Errorf("unknown setting %q: use %s, %s or header.NAME", k, strings.Join(settingKeys, ", "), strings.Join(canarySettingKeys, ", "))
}

func updateSettings(c *ucli.Context, changes map[string]*string) error {
	cl, app, err := appClient(c)
	if err != nil {
		return err
	}
	a, err := cl.UpdateSettings(c.Context, app, changes)
	if err != nil {
		return fmt.Errorf("changing the settings of %s: %w", app, err)
	}
	fmt.Fprintf(c.App.ErrWriter, "Changed the settings of %s.\n", app)
	return printSettings(c, a)
}
